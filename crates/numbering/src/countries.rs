//! The ITU E.164 country-code table (every assigned code, shared codes split by the leading digits of the
//! national number) and the international networks. Pure data plus a lookup that takes E.164 digits.

use crate::types::Country;

/// (calling code, ISO 3166-1 alpha-2 or pseudo code, name). For codes shared by several territories the
/// principal one comes first; the others are told apart by [`SUB_PREFIXES`].
pub(crate) const COUNTRIES: &[(u16, &str, &str)] = &[
    (1, "US", "United States"),
    (7, "RU", "Russia"),
    (20, "EG", "Egypt"),
    (27, "ZA", "South Africa"),
    (30, "GR", "Greece"),
    (31, "NL", "Netherlands"),
    (32, "BE", "Belgium"),
    (33, "FR", "France"),
    (34, "ES", "Spain"),
    (36, "HU", "Hungary"),
    (39, "IT", "Italy"),
    (40, "RO", "Romania"),
    (41, "CH", "Switzerland"),
    (43, "AT", "Austria"),
    (44, "GB", "United Kingdom"),
    (45, "DK", "Denmark"),
    (46, "SE", "Sweden"),
    (47, "NO", "Norway"),
    (48, "PL", "Poland"),
    (49, "DE", "Germany"),
    (51, "PE", "Peru"),
    (52, "MX", "Mexico"),
    (53, "CU", "Cuba"),
    (54, "AR", "Argentina"),
    (55, "BR", "Brazil"),
    (56, "CL", "Chile"),
    (57, "CO", "Colombia"),
    (58, "VE", "Venezuela"),
    (60, "MY", "Malaysia"),
    (61, "AU", "Australia"),
    (62, "ID", "Indonesia"),
    (63, "PH", "Philippines"),
    (64, "NZ", "New Zealand"),
    (65, "SG", "Singapore"),
    (66, "TH", "Thailand"),
    (81, "JP", "Japan"),
    (82, "KR", "South Korea"),
    (84, "VN", "Vietnam"),
    (86, "CN", "China"),
    (90, "TR", "Turkey"),
    (91, "IN", "India"),
    (92, "PK", "Pakistan"),
    (93, "AF", "Afghanistan"),
    (94, "LK", "Sri Lanka"),
    (95, "MM", "Myanmar"),
    (98, "IR", "Iran"),
    (211, "SS", "South Sudan"),
    (212, "MA", "Morocco"),
    (213, "DZ", "Algeria"),
    (216, "TN", "Tunisia"),
    (218, "LY", "Libya"),
    (220, "GM", "Gambia"),
    (221, "SN", "Senegal"),
    (222, "MR", "Mauritania"),
    (223, "ML", "Mali"),
    (224, "GN", "Guinea"),
    (225, "CI", "Côte d'Ivoire"),
    (226, "BF", "Burkina Faso"),
    (227, "NE", "Niger"),
    (228, "TG", "Togo"),
    (229, "BJ", "Benin"),
    (230, "MU", "Mauritius"),
    (231, "LR", "Liberia"),
    (232, "SL", "Sierra Leone"),
    (233, "GH", "Ghana"),
    (234, "NG", "Nigeria"),
    (235, "TD", "Chad"),
    (236, "CF", "Central African Republic"),
    (237, "CM", "Cameroon"),
    (238, "CV", "Cape Verde"),
    (239, "ST", "São Tomé and Príncipe"),
    (240, "GQ", "Equatorial Guinea"),
    (241, "GA", "Gabon"),
    (242, "CG", "Congo"),
    (243, "CD", "DR Congo"),
    (244, "AO", "Angola"),
    (245, "GW", "Guinea-Bissau"),
    (246, "IO", "British Indian Ocean Territory (Diego Garcia)"),
    (247, "AC", "Ascension Island"),
    (248, "SC", "Seychelles"),
    (249, "SD", "Sudan"),
    (250, "RW", "Rwanda"),
    (251, "ET", "Ethiopia"),
    (252, "SO", "Somalia"),
    (253, "DJ", "Djibouti"),
    (254, "KE", "Kenya"),
    (255, "TZ", "Tanzania"),
    (256, "UG", "Uganda"),
    (257, "BI", "Burundi"),
    (258, "MZ", "Mozambique"),
    (260, "ZM", "Zambia"),
    (261, "MG", "Madagascar"),
    (262, "RE", "Réunion"),
    (263, "ZW", "Zimbabwe"),
    (264, "NA", "Namibia"),
    (265, "MW", "Malawi"),
    (266, "LS", "Lesotho"),
    (267, "BW", "Botswana"),
    (268, "SZ", "Eswatini"),
    (269, "KM", "Comoros"),
    (290, "SH", "Saint Helena"),
    (291, "ER", "Eritrea"),
    (297, "AW", "Aruba"),
    (298, "FO", "Faroe Islands"),
    (299, "GL", "Greenland"),
    (350, "GI", "Gibraltar"),
    (351, "PT", "Portugal"),
    (352, "LU", "Luxembourg"),
    (353, "IE", "Ireland"),
    (354, "IS", "Iceland"),
    (355, "AL", "Albania"),
    (356, "MT", "Malta"),
    (357, "CY", "Cyprus"),
    (358, "FI", "Finland"),
    (359, "BG", "Bulgaria"),
    (370, "LT", "Lithuania"),
    (371, "LV", "Latvia"),
    (372, "EE", "Estonia"),
    (373, "MD", "Moldova"),
    (374, "AM", "Armenia"),
    (375, "BY", "Belarus"),
    (376, "AD", "Andorra"),
    (377, "MC", "Monaco"),
    (378, "SM", "San Marino"),
    (379, "VA", "Vatican City"),
    (380, "UA", "Ukraine"),
    (381, "RS", "Serbia"),
    (382, "ME", "Montenegro"),
    (383, "XK", "Kosovo"),
    (385, "HR", "Croatia"),
    (386, "SI", "Slovenia"),
    (387, "BA", "Bosnia and Herzegovina"),
    (389, "MK", "North Macedonia"),
    (420, "CZ", "Czech Republic"),
    (421, "SK", "Slovakia"),
    (423, "LI", "Liechtenstein"),
    (500, "FK", "Falkland Islands"),
    (501, "BZ", "Belize"),
    (502, "GT", "Guatemala"),
    (503, "SV", "El Salvador"),
    (504, "HN", "Honduras"),
    (505, "NI", "Nicaragua"),
    (506, "CR", "Costa Rica"),
    (507, "PA", "Panama"),
    (508, "PM", "Saint Pierre and Miquelon"),
    (509, "HT", "Haiti"),
    (590, "GP", "Guadeloupe"),
    (591, "BO", "Bolivia"),
    (592, "GY", "Guyana"),
    (593, "EC", "Ecuador"),
    (594, "GF", "French Guiana"),
    (595, "PY", "Paraguay"),
    (596, "MQ", "Martinique"),
    (597, "SR", "Suriname"),
    (598, "UY", "Uruguay"),
    (599, "CW", "Curaçao"),
    (670, "TL", "Timor-Leste"),
    (672, "NF", "Norfolk Island / Australian Antarctic Territory"),
    (673, "BN", "Brunei"),
    (674, "NR", "Nauru"),
    (675, "PG", "Papua New Guinea"),
    (676, "TO", "Tonga"),
    (677, "SB", "Solomon Islands"),
    (678, "VU", "Vanuatu"),
    (679, "FJ", "Fiji"),
    (680, "PW", "Palau"),
    (681, "WF", "Wallis and Futuna"),
    (682, "CK", "Cook Islands"),
    (683, "NU", "Niue"),
    (685, "WS", "Samoa"),
    (686, "KI", "Kiribati"),
    (687, "NC", "New Caledonia"),
    (688, "TV", "Tuvalu"),
    (689, "PF", "French Polynesia"),
    (690, "TK", "Tokelau"),
    (691, "FM", "Micronesia"),
    (692, "MH", "Marshall Islands"),
    (800, "XF", "International Freephone (UIFN)"),
    (808, "XC", "International Shared Cost Service"),
    (850, "KP", "North Korea"),
    (852, "HK", "Hong Kong"),
    (853, "MO", "Macau"),
    (855, "KH", "Cambodia"),
    (856, "LA", "Laos"),
    (870, "XS", "Inmarsat (satellite)"),
    (878, "XU", "Universal Personal Telecommunications"),
    (880, "BD", "Bangladesh"),
    (
        881,
        "XS",
        "Global Mobile Satellite System (Iridium, Globalstar…)",
    ),
    (882, "XN", "International Networks"),
    (883, "XN", "International Networks"),
    (886, "TW", "Taiwan"),
    (888, "XO", "UN OCHA (humanitarian telecommunications)"),
    (960, "MV", "Maldives"),
    (961, "LB", "Lebanon"),
    (962, "JO", "Jordan"),
    (963, "SY", "Syria"),
    (964, "IQ", "Iraq"),
    (965, "KW", "Kuwait"),
    (966, "SA", "Saudi Arabia"),
    (967, "YE", "Yemen"),
    (968, "OM", "Oman"),
    (970, "PS", "Palestine"),
    (971, "AE", "United Arab Emirates"),
    (972, "IL", "Israel"),
    (973, "BH", "Bahrain"),
    (974, "QA", "Qatar"),
    (975, "BT", "Bhutan"),
    (976, "MN", "Mongolia"),
    (977, "NP", "Nepal"),
    (979, "XR", "International Premium Rate Service"),
    (
        991,
        "XT",
        "International Telecommunications Public Correspondence Service (trial)",
    ),
    (992, "TJ", "Tajikistan"),
    (993, "TM", "Turkmenistan"),
    (994, "AZ", "Azerbaijan"),
    (995, "GE", "Georgia"),
    (996, "KG", "Kyrgyzstan"),
    (998, "UZ", "Uzbekistan"),
];

/// Territories that share a calling code, told apart by the leading digits of the E.164 number
/// (calling code included). Longest match wins.
pub(crate) const SUB_PREFIXES: &[(&str, &str, &str)] = &[
    // NANP: Canada and the Caribbean/Pacific members; every other area code is the United States.
    ("1204", "CA", "Canada"),
    ("1226", "CA", "Canada"),
    ("1236", "CA", "Canada"),
    ("1249", "CA", "Canada"),
    ("1250", "CA", "Canada"),
    ("1257", "CA", "Canada"),
    ("1263", "CA", "Canada"),
    ("1289", "CA", "Canada"),
    ("1306", "CA", "Canada"),
    ("1343", "CA", "Canada"),
    ("1354", "CA", "Canada"),
    ("1365", "CA", "Canada"),
    ("1367", "CA", "Canada"),
    ("1368", "CA", "Canada"),
    ("1382", "CA", "Canada"),
    ("1403", "CA", "Canada"),
    ("1416", "CA", "Canada"),
    ("1418", "CA", "Canada"),
    ("1428", "CA", "Canada"),
    ("1431", "CA", "Canada"),
    ("1437", "CA", "Canada"),
    ("1438", "CA", "Canada"),
    ("1450", "CA", "Canada"),
    ("1468", "CA", "Canada"),
    ("1474", "CA", "Canada"),
    ("1506", "CA", "Canada"),
    ("1514", "CA", "Canada"),
    ("1519", "CA", "Canada"),
    ("1548", "CA", "Canada"),
    ("1579", "CA", "Canada"),
    ("1581", "CA", "Canada"),
    ("1584", "CA", "Canada"),
    ("1587", "CA", "Canada"),
    ("1604", "CA", "Canada"),
    ("1613", "CA", "Canada"),
    ("1639", "CA", "Canada"),
    ("1647", "CA", "Canada"),
    ("1672", "CA", "Canada"),
    ("1683", "CA", "Canada"),
    ("1705", "CA", "Canada"),
    ("1709", "CA", "Canada"),
    ("1742", "CA", "Canada"),
    ("1753", "CA", "Canada"),
    ("1778", "CA", "Canada"),
    ("1780", "CA", "Canada"),
    ("1782", "CA", "Canada"),
    ("1807", "CA", "Canada"),
    ("1819", "CA", "Canada"),
    ("1825", "CA", "Canada"),
    ("1867", "CA", "Canada"),
    ("1873", "CA", "Canada"),
    ("1879", "CA", "Canada"),
    ("1902", "CA", "Canada"),
    ("1905", "CA", "Canada"),
    ("1942", "CA", "Canada"),
    ("1242", "BS", "Bahamas"),
    ("1246", "BB", "Barbados"),
    ("1264", "AI", "Anguilla"),
    ("1268", "AG", "Antigua and Barbuda"),
    ("1284", "VG", "British Virgin Islands"),
    ("1340", "VI", "US Virgin Islands"),
    ("1345", "KY", "Cayman Islands"),
    ("1441", "BM", "Bermuda"),
    ("1473", "GD", "Grenada"),
    ("1649", "TC", "Turks and Caicos Islands"),
    ("1658", "JM", "Jamaica"),
    ("1664", "MS", "Montserrat"),
    ("1670", "MP", "Northern Mariana Islands"),
    ("1671", "GU", "Guam"),
    ("1684", "AS", "American Samoa"),
    ("1721", "SX", "Sint Maarten"),
    ("1758", "LC", "Saint Lucia"),
    ("1767", "DM", "Dominica"),
    ("1784", "VC", "Saint Vincent and the Grenadines"),
    ("1787", "PR", "Puerto Rico"),
    ("1809", "DO", "Dominican Republic"),
    ("1829", "DO", "Dominican Republic"),
    ("1849", "DO", "Dominican Republic"),
    ("1868", "TT", "Trinidad and Tobago"),
    ("1869", "KN", "Saint Kitts and Nevis"),
    ("1876", "JM", "Jamaica"),
    ("1939", "PR", "Puerto Rico"),
    // +7: Kazakhstan uses 6xx and 7xx.
    ("76", "KZ", "Kazakhstan"),
    ("77", "KZ", "Kazakhstan"),
    // +44 Crown Dependencies.
    ("441481", "GG", "Guernsey"),
    ("447781", "GG", "Guernsey"),
    ("447839", "GG", "Guernsey"),
    ("447911", "GG", "Guernsey"),
    ("441534", "JE", "Jersey"),
    ("447509", "JE", "Jersey"),
    ("447700", "JE", "Jersey"),
    ("447797", "JE", "Jersey"),
    ("447829", "JE", "Jersey"),
    ("447937", "JE", "Jersey"),
    ("441624", "IM", "Isle of Man"),
    ("447524", "IM", "Isle of Man"),
    ("447624", "IM", "Isle of Man"),
    ("447924", "IM", "Isle of Man"),
    // Others sharing a code.
    ("6189162", "CC", "Cocos (Keeling) Islands"),
    ("6189164", "CX", "Christmas Island"),
    ("262269", "YT", "Mayotte"),
    ("262639", "YT", "Mayotte"),
    ("590590", "GP", "Guadeloupe"),
    ("590690", "GP", "Guadeloupe"),
    ("5995", "SX", "Sint Maarten (legacy)"),
    ("5993", "BQ", "Caribbean Netherlands"),
    ("5994", "BQ", "Caribbean Netherlands"),
    ("5997", "BQ", "Caribbean Netherlands"),
    ("4779", "SJ", "Svalbard and Jan Mayen"),
    ("35818", "AX", "Åland Islands"),
    ("3906698", "VA", "Vatican City"),
    ("2908", "TA", "Tristan da Cunha"),
    ("5288", "EH", "Western Sahara"),
    ("5289", "EH", "Western Sahara"),
    ("6721", "AQ", "Australian Antarctic Territory"),
    ("6723", "NF", "Norfolk Island"),
];

/// Index from calling code (1..=999) to the row of [`COUNTRIES`]; built once.
fn by_code() -> &'static [u16; 1000] {
    static TABLE: std::sync::OnceLock<[u16; 1000]> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = [u16::MAX; 1000];
        for (i, (code, _, _)) in COUNTRIES.iter().enumerate() {
            let slot = &mut t[usize::from(*code)];
            if *slot == u16::MAX {
                *slot = i as u16;
            }
        }
        t
    })
}

/// The calling code at the start of E.164 digits and its length, `None` when the first 1-3 digits are no
/// assigned code (E.164 codes are prefix-free, so the first hit is the only one).
pub fn calling_code(e164_digits: &str) -> Option<(u16, usize)> {
    calling_code_bytes(e164_digits.as_bytes())
}

/// [`calling_code`] of ASCII digits given as bytes.
pub(crate) fn calling_code_bytes(b: &[u8]) -> Option<(u16, usize)> {
    let table = by_code();
    let mut code: u16 = 0;
    for (i, d) in b.iter().take(3).enumerate() {
        if !d.is_ascii_digit() {
            return None;
        }
        code = code * 10 + u16::from(d - b'0');
        if code == 0 {
            return None;
        }
        if table[usize::from(code)] != u16::MAX {
            return Some((code, i + 1));
        }
    }
    None
}

/// Rows of [`SUB_PREFIXES`] arranged for lookup by the calling code; built once.
struct SubIndex {
    /// NANP rows of exactly four digits ("1" and an area code), by area code: row + 1, 0 for none. Most of
    /// the table is NANP, and a call to the US or Canada should not compare ninety prefixes.
    nanp: [u8; 1000],
    /// Every other row, as (calling code, row), by calling code then table order.
    rest: Vec<(u16, usize)>,
    /// The run of `rest` for each calling code: (start, end).
    runs: Box<[(u16, u16); 1000]>,
}

fn sub_index() -> &'static SubIndex {
    static INDEX: std::sync::OnceLock<SubIndex> = std::sync::OnceLock::new();
    INDEX.get_or_init(|| {
        let mut nanp = [0u8; 1000];
        let mut rest = Vec::new();
        for (i, (prefix, _, _)) in SUB_PREFIXES.iter().enumerate() {
            let Some((code, _)) = calling_code(prefix) else {
                continue;
            };
            let area = match prefix.as_bytes() {
                [b'1', a, b, c] => Some(
                    usize::from(a - b'0') * 100
                        + usize::from(b - b'0') * 10
                        + usize::from(c - b'0'),
                ),
                _ => None,
            };
            match (area, u8::try_from(i + 1)) {
                // The first row of a prefix wins, as in a scan of the table.
                (Some(area), Ok(row)) if code == 1 => {
                    if nanp[area] == 0 {
                        nanp[area] = row;
                    }
                }
                _ => rest.push((code, i)),
            }
        }
        rest.sort_by_key(|&(code, row)| (code, row));
        let mut runs = Box::new([(0u16, 0u16); 1000]);
        for (i, &(code, _)) in rest.iter().enumerate() {
            let (Some(run), Ok(i)) = (runs.get_mut(usize::from(code)), u16::try_from(i)) else {
                continue;
            };
            if run.0 == run.1 {
                *run = (i, i + 1);
            } else {
                run.1 = i + 1;
            }
        }
        SubIndex { nanp, rest, runs }
    })
}

/// The country or network of a full E.164 number (digits without `+`).
pub fn country_of(e164_digits: &str) -> Option<Country> {
    let (code, _) = calling_code(e164_digits)?;
    let digits = e164_digits.as_bytes();
    let index = sub_index();
    // Longest prefix wins; among equally long ones the first row of the table.
    let mut best: Option<(&str, &str, usize, usize)> = None;
    if code == 1
        && let [_, a, b, c, ..] = digits
        && a.is_ascii_digit()
        && b.is_ascii_digit()
        && c.is_ascii_digit()
    {
        let area = usize::from(a - b'0') * 100 + usize::from(b - b'0') * 10 + usize::from(c - b'0');
        if let Some((_, iso2, name)) = index
            .nanp
            .get(area)
            .and_then(|row| usize::from(*row).checked_sub(1))
            .and_then(|row| SUB_PREFIXES.get(row))
        {
            best = Some((iso2, name, 4, usize::from(index.nanp[area]) - 1));
        }
    }
    let (from, to) = index.runs.get(usize::from(code)).copied().unwrap_or((0, 0));
    for &(_, row) in index
        .rest
        .get(usize::from(from)..usize::from(to))
        .unwrap_or(&[])
    {
        let Some((prefix, iso2, name)) = SUB_PREFIXES.get(row) else {
            continue;
        };
        let longer =
            best.is_none_or(|(_, _, l, r)| prefix.len() > l || (prefix.len() == l && row < r));
        if longer && digits.starts_with(prefix.as_bytes()) {
            best = Some((iso2, name, prefix.len(), row));
        }
    }
    if let Some((iso2, name, _, _)) = best {
        return Some(Country {
            iso2,
            name,
            calling_code: code,
        });
    }
    let row = COUNTRIES.get(usize::from(by_code()[usize::from(code)]))?;
    Some(Country {
        iso2: row.1,
        name: row.2,
        calling_code: code,
    })
}

/// The principal country of a calling code.
pub fn country_by_code(code: u16) -> Option<Country> {
    let idx = *by_code().get(usize::from(code))?;
    let row = COUNTRIES.get(usize::from(idx))?;
    Some(Country {
        iso2: row.1,
        name: row.2,
        calling_code: code,
    })
}

/// The calling code of an ISO country ("JP" → 81), including territories of shared codes.
pub fn code_of_iso2(iso2: &str) -> Option<u16> {
    if let Some(row) = COUNTRIES.iter().find(|r| r.1.eq_ignore_ascii_case(iso2)) {
        return Some(row.0);
    }
    let (prefix, _, _) = SUB_PREFIXES
        .iter()
        .find(|r| r.1.eq_ignore_ascii_case(iso2))?;
    calling_code(prefix).map(|(c, _)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_shared_codes() {
        assert_eq!(country_of("12125551234").map(|c| c.iso2), Some("US"));
        assert_eq!(country_of("14165551234").map(|c| c.iso2), Some("CA"));
        assert_eq!(country_of("18765551234").map(|c| c.iso2), Some("JM"));
        assert_eq!(country_of("74951234567").map(|c| c.iso2), Some("RU"));
        assert_eq!(country_of("77011234567").map(|c| c.iso2), Some("KZ"));
        assert_eq!(country_of("441481123456").map(|c| c.iso2), Some("GG"));
        assert_eq!(
            country_of("23276123456").map(|c| c.name),
            Some("Sierra Leone")
        );
        assert_eq!(
            country_of("881612345678").map(|c| c.calling_code),
            Some(881)
        );
        assert_eq!(country_of("2800000"), None, "+280 is unassigned");
    }

    /// The lookup before the index: a scan of the whole table, longest prefix first, then table order.
    fn country_by_scan(e164_digits: &str) -> Option<Country> {
        let (code, _) = calling_code(e164_digits)?;
        let mut best: Option<(&str, &str, usize)> = None;
        for (prefix, iso2, name) in SUB_PREFIXES {
            if e164_digits.starts_with(prefix) && best.is_none_or(|(_, _, l)| prefix.len() > l) {
                best = Some((iso2, name, prefix.len()));
            }
        }
        if let Some((iso2, name, _)) = best {
            return Some(Country {
                iso2,
                name,
                calling_code: code,
            });
        }
        country_by_code(code)
    }

    #[test]
    fn indexed_lookup_matches_a_scan_of_the_table() {
        let mut numbers: Vec<String> = Vec::new();
        for area in 0..1000 {
            numbers.push(format!("1{area:03}5550123"));
            numbers.push(format!("1{area:03}"));
            numbers.push(format!("1{area:02}"));
        }
        for (prefix, _, _) in SUB_PREFIXES {
            numbers.push(prefix.to_string());
            numbers.push(format!("{prefix}123456"));
            numbers.push(prefix[..prefix.len() - 1].to_string());
            numbers.push(format!("{}9{}", &prefix[..prefix.len() - 1], "1234567"));
        }
        for (code, _, _) in COUNTRIES {
            numbers.push(format!("{code}123456789"));
        }
        numbers.extend(
            ["", "0", "1", "1x23", "7", "79", "28000", "999999999999999"].map(String::from),
        );
        for n in &numbers {
            assert_eq!(country_of(n), country_by_scan(n), "{n}");
        }
    }

    #[test]
    fn table_is_consistent() {
        for (code, iso2, _) in COUNTRIES {
            assert!((1..1000).contains(code), "{iso2}");
            assert_eq!(
                calling_code(&code.to_string()).map(|c| c.0),
                Some(*code),
                "{iso2} not prefix-free"
            );
        }
        for (prefix, iso2, _) in SUB_PREFIXES {
            assert!(calling_code(prefix).is_some(), "{iso2} {prefix}");
        }
        assert_eq!(code_of_iso2("jp"), Some(81));
        assert_eq!(code_of_iso2("CA"), Some(1));
    }
}
