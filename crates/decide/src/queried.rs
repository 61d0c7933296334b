//! Calls decided for a querier that carries them itself (the HTTP decision API, the redirect server): the
//! layer remembers their tenant and times, so that the querier's later "answered" and "ended" reach the engine
//! under the right tenant, and a querier scoped to one tenant cannot report on another tenant's calls.
//! Bounded: the oldest are forgotten first (a call that never reports its end is forgotten eventually).
//! Sized for the bound at start, like the guard's own tables: a hash map that doubles moves every entry at
//! once (the HTTP decisions waiting behind the decision lock saw 20–35 ms stalls at 57 k and 114 k calls).

use std::collections::{HashMap, VecDeque};

use engine::Millis;

/// Most queried calls remembered.
const MAX_QUERIED: usize = 200_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueriedCall {
    pub tenant: String,
    /// Engine time of the decision and of the answer.
    pub started: Millis,
    pub answered: Option<Millis>,
    /// Seen on a mirror: its decisions alert but are not enforced.
    pub observe: bool,
}

#[derive(Debug)]
pub struct QueriedCalls {
    calls: HashMap<String, QueriedCall>,
    order: VecDeque<(Millis, String)>,
}

impl Default for QueriedCalls {
    fn default() -> Self {
        QueriedCalls {
            // Twice the bound: at the bound the map never grows; forgotten calls leave tombstones, which a
            // map this much larger than its content clears by rehashing in place, rarely.
            calls: HashMap::with_capacity(2 * MAX_QUERIED),
            order: VecDeque::with_capacity(MAX_QUERIED + 1),
        }
    }
}

impl QueriedCalls {
    pub fn remember(&mut self, call_id: &str, tenant: &str, at: Millis, observe: bool) {
        if call_id.is_empty() {
            return;
        }
        // The order holds an entry per remembered call, ended ones included until they come to the front:
        // bounding it bounds both (a querier that reports every end would otherwise grow it forever).
        while self.order.len() >= MAX_QUERIED {
            let Some((t, id)) = self.order.pop_front() else {
                break;
            };
            if self.calls.get(&id).is_some_and(|c| c.started == t) {
                self.calls.remove(&id);
            }
        }
        self.calls.insert(
            call_id.to_owned(),
            QueriedCall {
                tenant: tenant.to_owned(),
                started: at,
                answered: None,
                observe,
            },
        );
        self.order.push_back((at, call_id.to_owned()));
    }

    /// The call, if the querier may see it (`tenants`: the querier's scope, None for every tenant).
    pub fn get_mut(
        &mut self,
        call_id: &str,
        tenants: Option<&[String]>,
    ) -> Option<&mut QueriedCall> {
        self.calls
            .get_mut(call_id)
            .filter(|c| tenants.is_none_or(|ts| ts.contains(&c.tenant)))
    }

    pub fn tenant_of(&self, call_id: &str) -> Option<String> {
        self.calls.get(call_id).map(|c| c.tenant.clone())
    }

    pub fn contains(&self, call_id: &str) -> bool {
        self.calls.contains_key(call_id)
    }

    pub fn forget(&mut self, call_id: &str) -> Option<QueriedCall> {
        self.calls.remove(call_id)
    }

    pub fn len(&self) -> usize {
        self.calls.len()
    }

    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scoped_querier_sees_only_its_tenants_calls() {
        let mut q = QueriedCalls::default();
        q.remember("c1", "acme", 1, false);
        let own = ["acme".to_owned()];
        let other = ["globex".to_owned()];
        assert!(q.get_mut("c1", Some(&own)).is_some());
        assert!(q.get_mut("c1", Some(&other)).is_none());
        assert!(q.get_mut("c1", None).is_some());
        assert!(q.forget("c1").is_some() && q.is_empty());
        q.remember("", "acme", 1, false);
        assert!(q.is_empty(), "a call without a Call-ID is not remembered");
    }

    #[test]
    fn calls_stay_bounded_and_the_tables_never_grow_whether_or_not_they_end() {
        let mut q = QueriedCalls::default();
        let (map, order) = (q.calls.capacity(), q.order.capacity());
        // Calls that never report their end, then calls that do: the oldest are forgotten, nothing grows.
        for i in 0..(MAX_QUERIED + 1_000) {
            q.remember(&format!("c{i}"), "acme", i as Millis, false);
        }
        assert_eq!(q.len(), MAX_QUERIED);
        assert!(!q.contains("c0") && q.contains(&format!("c{}", MAX_QUERIED + 999)));
        for i in 0..(MAX_QUERIED + 1_000) {
            let id = format!("e{i}");
            q.remember(&id, "acme", i as Millis, false);
            q.forget(&id);
        }
        assert!(q.order.len() <= MAX_QUERIED, "{}", q.order.len());
        // (A map's capacity counts its free slots: forgotten calls' tombstones take some, growth adds.)
        assert!(q.calls.capacity() <= map && map >= MAX_QUERIED, "{map}");
        assert_eq!(q.order.capacity(), order);
    }
}
