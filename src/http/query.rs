//! Parsing of the listing query string (`after`, `before`, `limit`) into a database `Page`.

use crate::db::Page;

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListQuery {
    pub page: Page,
    pub limit: u32,
}

/// Parses `after=ID`, `before=ID` and `limit=N`. Other keys are ignored, as browsers and
/// proxies add their own (cache busters); a known key that is malformed is an error.
pub fn parse_list_query(query: Option<&str>) -> Result<ListQuery, String> {
    let (mut after, mut before, mut limit) = (None, None, None);
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let slot = match key {
            "after" => &mut after,
            "before" => &mut before,
            "limit" => &mut limit,
            _ => continue,
        };
        if slot.is_some() {
            return Err(format!("`{key}` is given more than once"));
        }
        *slot = Some(parse_integer(key, value)?);
    }
    let page = match (after, before) {
        (Some(_), Some(_)) => return Err("use either `after` or `before`, not both".into()),
        (Some(id), None) => Page::After(id),
        (None, Some(id)) => Page::Before(id),
        (None, None) => Page::Newest,
    };
    let limit = match limit {
        None => DEFAULT_LIMIT,
        Some(n) => match u32::try_from(n) {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => {
                return Err(format!(
                    "`limit` must be between 1 and {MAX_LIMIT}, not {n}"
                ))
            }
        },
    };
    Ok(ListQuery { page, limit })
}

/// Parses a message id as it appears in a path or query: a non-negative decimal integer.
pub fn parse_id(text: &str) -> Option<i64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn parse_integer(key: &str, value: &str) -> Result<i64, String> {
    if key == "limit" {
        if let Some(rest) = value.strip_prefix('-') {
            if parse_id(rest).is_some() {
                return Err(format!(
                    "`limit` must be between 1 and {MAX_LIMIT}, not {value}"
                ));
            }
        }
    }
    parse_id(value).ok_or_else(|| {
        let shown: String = value.chars().take(32).collect();
        format!("`{key}` must be a non-negative whole number, not {shown:?}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(q: &str) -> ListQuery {
        parse_list_query(Some(q)).unwrap_or_else(|e| panic!("{q}: {e}"))
    }

    #[test]
    fn defaults_to_the_newest_fifty() {
        let expected = ListQuery {
            page: Page::Newest,
            limit: DEFAULT_LIMIT,
        };
        assert_eq!(parse_list_query(None).unwrap(), expected);
        assert_eq!(ok(""), expected);
        assert_eq!(ok("_=123&x"), expected);
    }

    #[test]
    fn reads_after_before_and_limit() {
        assert_eq!(
            ok("after=7"),
            ListQuery {
                page: Page::After(7),
                limit: 50
            }
        );
        assert_eq!(
            ok("before=9&limit=200"),
            ListQuery {
                page: Page::Before(9),
                limit: 200
            }
        );
        assert_eq!(ok("limit=1").limit, 1);
        assert_eq!(ok("after=0").page, Page::After(0));
    }

    #[test]
    fn rejects_bad_values() {
        for q in [
            "limit=0",
            "limit=201",
            "limit=-1",
            "limit=abc",
            "limit=",
            "limit=1.5",
            "after=-1",
            "after=x",
            "after=",
            "before=1e3",
            "after=99999999999999999999",
            "after=1&before=2",
            "after=1&after=2",
            "limit=+5",
            "after=%31",
        ] {
            assert!(parse_list_query(Some(q)).is_err(), "{q} should be refused");
        }
    }

    #[test]
    fn limit_errors_name_the_range() {
        let err = parse_list_query(Some("limit=500")).unwrap_err();
        assert!(err.contains("between 1 and 200"), "{err}");
        let err = parse_list_query(Some("limit=-3")).unwrap_err();
        assert!(err.contains("between 1 and 200"), "{err}");
    }

    #[test]
    fn ids_are_plain_decimal() {
        assert_eq!(parse_id("42"), Some(42));
        for bad in ["", "-1", "+1", "1x", " 1", "0x10", "9223372036854775808"] {
            assert_eq!(parse_id(bad), None, "{bad}");
        }
    }

    proptest::proptest! {
        #![proptest_config(crate::fuzz_config())]

        /// Any query string: no panic, and an accepted one is within the contract.
        #[test]
        fn accepted_queries_are_within_bounds(query in "[a-z=&0-9%+.-]{0,40}|.{0,80}") {
            if let Ok(parsed) = parse_list_query(Some(&query)) {
                proptest::prop_assert!((1..=MAX_LIMIT).contains(&parsed.limit));
                match parsed.page {
                    Page::After(id) | Page::Before(id) => proptest::prop_assert!(id >= 0),
                    Page::Newest => {}
                }
            }
        }

        #[test]
        fn ids_round_trip(id in 0i64..=i64::MAX) {
            proptest::prop_assert_eq!(parse_id(&id.to_string()), Some(id));
        }
    }
}
