//! The ids of the calls behind a decision, in one allocation.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The ids of the calls that contributed to a decision (the most recent few, oldest first), kept in one
/// string. A decision is made for every call of a storm, thousands a second; as a `Vec<String>` its eight ids
/// were nine allocations on the deciding thread and nine frees on the store's writer.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct CallIds {
    /// The ids one after the other.
    text: String,
    /// Where each id ends in `text`.
    ends: [u32; CallIds::MAX],
    len: u8,
}

impl CallIds {
    /// Ids kept: as many as the engine remembers recent calls; more (from a stored row of another version)
    /// are dropped.
    pub const MAX: usize = 8;

    /// Adds an id; false (and nothing added) when [`CallIds::MAX`] are kept already.
    pub fn push(&mut self, id: &str) -> bool {
        let n = usize::from(self.len);
        let Ok(end) = u32::try_from(self.text.len() + id.len()) else {
            return false;
        };
        if n >= Self::MAX {
            return false;
        }
        self.text.push_str(id);
        self.ends[n] = end;
        self.len += 1;
        true
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        let ends = &self.ends[..usize::from(self.len)];
        (0..ends.len()).map(move |i| {
            let start = if i == 0 { 0 } else { ends[i - 1] as usize };
            &self.text[start..ends[i] as usize]
        })
    }

    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn clear(&mut self) {
        self.text.clear();
        self.len = 0;
    }
}

const _: () = assert!(crate::window::RECENT <= CallIds::MAX);

impl<S: AsRef<str>> FromIterator<S> for CallIds {
    fn from_iter<I: IntoIterator<Item = S>>(ids: I) -> CallIds {
        let mut c = CallIds::default();
        for id in ids {
            if !c.push(id.as_ref()) {
                break;
            }
        }
        c
    }
}

impl std::fmt::Debug for CallIds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// A JSON array of strings, as `Vec<String>` was.
impl Serialize for CallIds {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for CallIds {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<CallIds, D::Error> {
        Ok(Vec::<String>::deserialize(d)?.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_come_back_in_order_and_as_a_json_array() {
        let ids: CallIds = ["a@x", "", "ccc"].into_iter().collect();
        assert_eq!(ids.iter().collect::<Vec<_>>(), ["a@x", "", "ccc"]);
        assert_eq!(ids.len(), 3);
        let json = serde_json::to_string(&ids).unwrap();
        assert_eq!(json, r#"["a@x","","ccc"]"#);
        assert_eq!(serde_json::from_str::<CallIds>(&json).unwrap(), ids);
        assert_eq!(format!("{ids:?}"), r#"["a@x", "", "ccc"]"#);
    }

    #[test]
    fn more_than_max_are_dropped_not_wrapped() {
        let many: Vec<String> = (0..20).map(|i| format!("call-{i}")).collect();
        let ids: CallIds = many.iter().collect();
        assert_eq!(ids.len(), CallIds::MAX);
        assert_eq!(ids.iter().last(), Some("call-7"));
        let mut ids = ids;
        assert!(!ids.push("one more"));
        ids.clear();
        assert!(ids.is_empty() && ids.push("again"));
        assert_eq!(ids.iter().collect::<Vec<_>>(), ["again"]);
    }
}
