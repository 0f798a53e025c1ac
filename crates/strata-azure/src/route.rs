//! An HTTP trigger's route, as `strata invoke` fills it: the methods the trigger binding
//! allows (`methods`; none declared means every method) and the URL with its route
//! parameters (`{id}`, `{id:int}`, optional `{id?}`, a default `{id=7}`, a catch-all
//! `{*rest}`) replaced by the values given, each checked against its constraints as the
//! Functions host's router checks them (`int`, `long`, `bool`, `alpha`, `guid`, `double`,
//! `float`, `decimal`, `minlength(n)`, `maxlength(n)`, `length(n)`, `min(n)`, `max(n)`,
//! `range(a,b)`; others are left to the host).

use std::collections::BTreeMap;

use serde_json::Value;
use strata_provider::{HTTP_METHODS, Hint, percent_encode};

/// Why a route could not be filled.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RouteError {
    #[error("the route `{route}` of `{function}` needs parameter `{name}`")]
    Missing {
        function: String,
        route: String,
        name: String,
    },

    #[error("parameter `{name}` of `{function}` is `{value}`, which is not {constraint}")]
    Constraint {
        function: String,
        name: String,
        value: String,
        constraint: String,
    },

    #[error("the route `{route}` of `{function}` has no parameter `{name}`")]
    Unknown {
        function: String,
        route: String,
        name: String,
    },
}

impl Hint for RouteError {
    fn hint(&self) -> Option<String> {
        Some(match self {
            Self::Missing { name, .. } => format!("add --param {name}=VALUE"),
            Self::Constraint { name, .. } => {
                format!("give --param {name}= a value the route's constraint accepts")
            }
            Self::Unknown { route, .. } => format!(
                "the route's parameters are the names in braces in `{route}`; give each with --param NAME=VALUE"
            ),
        })
    }
}

/// The methods the trigger binding allows, upper case, in its order; every method when it
/// declares none.
pub fn allowed_methods(binding: &Value) -> Vec<String> {
    let declared: Vec<String> = binding["methods"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_ascii_uppercase)
        .collect();
    if declared.is_empty() {
        HTTP_METHODS
            .iter()
            .map(|method| (*method).to_owned())
            .collect()
    } else {
        declared
    }
}

/// One `{…}` of a route: its name, constraints, and whether it may be left out.
struct Parameter<'a> {
    name: &'a str,
    constraints: Vec<&'a str>,
    optional: bool,
    default: Option<&'a str>,
    catch_all: bool,
}

fn parameter(inside: &str) -> Parameter<'_> {
    let (inside, default) = match inside.split_once('=') {
        Some((inside, default)) => (inside, Some(default)),
        None => (inside, None),
    };
    let optional = inside.ends_with('?');
    let inside = inside.trim_end_matches('?');
    let catch_all = inside.starts_with('*');
    let inside = inside.trim_start_matches('*');
    let mut parts = split_constraints(inside);
    let name = parts.remove(0);
    Parameter {
        name,
        constraints: parts,
        optional,
        default,
        catch_all,
    }
}

/// `id:int:min(1)` as `id`, `int`, `min(1)`; a colon inside parentheses stays.
fn split_constraints(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0_i32, 0);
    for (index, character) in text.char_indices() {
        match character {
            '(' => depth += 1,
            ')' => depth -= 1,
            ':' if depth == 0 => {
                parts.push(&text[start..index]);
                start = index + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// Whether `value` meets one constraint; `None` for a constraint strata does not check.
fn meets(constraint: &str, value: &str) -> Option<bool> {
    let (kind, argument) = match constraint.split_once('(') {
        Some((kind, rest)) => (kind, rest.trim_end_matches(')')),
        None => (constraint, ""),
    };
    let number = |text: &str| text.trim().parse::<f64>().ok();
    let length = value.chars().count() as f64;
    Some(match kind.to_ascii_lowercase().as_str() {
        "int" => value.parse::<i32>().is_ok(),
        "long" => value.parse::<i64>().is_ok(),
        "bool" => value.eq_ignore_ascii_case("true") || value.eq_ignore_ascii_case("false"),
        "alpha" => !value.is_empty() && value.chars().all(|c| c.is_ascii_alphabetic()),
        "double" | "float" | "decimal" => value.parse::<f64>().is_ok(),
        "guid" => {
            let hex = value.trim_matches(['{', '}']).replace('-', "");
            hex.len() == 32 && hex.chars().all(|c| c.is_ascii_hexdigit())
        }
        "minlength" => length >= number(argument)?,
        "maxlength" => length <= number(argument)?,
        "length" => match argument.split_once(',') {
            Some((low, high)) => (number(low)?..=number(high)?).contains(&length),
            None => length == number(argument)?,
        },
        "min" => {
            let bound = number(argument)?;
            number(value).is_some_and(|found| found >= bound)
        }
        "max" => {
            let bound = number(argument)?;
            number(value).is_some_and(|found| found <= bound)
        }
        "range" => {
            let (low, high) = argument.split_once(',')?;
            let bounds = number(low)?..=number(high)?;
            number(value).is_some_and(|found| bounds.contains(&found))
        }
        _ => return None,
    })
}

/// `url` (an invoke URL holding the route template) with every parameter replaced by its
/// value from `values`; an optional one without a value is dropped with its `/`.
/// Where the query string of a route template begins: its first `?` outside braces.
fn query_start(url: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (at, c) in url.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            '?' if depth == 0 => return Some(at),
            _ => {}
        }
    }
    None
}

pub fn fill(
    function: &str,
    url: &str,
    values: &BTreeMap<String, String>,
) -> Result<String, RouteError> {
    // The query starts at the first `?` outside a `{...}`: `{id?}` marks an optional part.
    let (base, query) = match query_start(url) {
        Some(at) => (&url[..at], Some(&url[at + 1..])),
        None => (url, None),
    };
    let route = base.split_once("/api/").map_or(base, |(_, route)| route);
    let mut used = Vec::new();
    let mut out = String::new();
    let mut rest = base;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}').map(|close| open + close) else {
            break;
        };
        out.push_str(&rest[..open]);
        let parameter = parameter(&rest[open + 1..close]);
        rest = &rest[close + 1..];
        let value = values
            .get(parameter.name)
            .map(String::as_str)
            .or(parameter.default);
        let Some(value) = value else {
            if parameter.optional {
                if out.ends_with('/') {
                    out.pop();
                }
                continue;
            }
            return Err(RouteError::Missing {
                function: function.to_owned(),
                route: route.to_owned(),
                name: parameter.name.to_owned(),
            });
        };
        used.push(parameter.name);
        for constraint in &parameter.constraints {
            if meets(constraint, value) == Some(false) {
                return Err(RouteError::Constraint {
                    function: function.to_owned(),
                    name: parameter.name.to_owned(),
                    value: value.to_owned(),
                    constraint: (*constraint).to_owned(),
                });
            }
        }
        if parameter.catch_all {
            let segments: Vec<String> = value.split('/').map(percent_encode).collect();
            out.push_str(&segments.join("/"));
        } else {
            out.push_str(&percent_encode(value));
        }
    }
    out.push_str(rest);
    if let Some(name) = values.keys().find(|name| !used.contains(&name.as_str())) {
        return Err(RouteError::Unknown {
            function: function.to_owned(),
            route: route.to_owned(),
            name: name.clone(),
        });
    }
    Ok(match query {
        Some(query) => format!("{out}?{query}"),
        None => out,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn values(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect()
    }

    const URL: &str = "https://app.azurewebsites.net/api/products/{category:alpha}/{id:int?}";

    #[test]
    fn parameters_are_filled_checked_and_an_optional_one_may_be_left_out() {
        assert_eq!(
            fill("f", URL, &values(&[("category", "tools"), ("id", "7")])).unwrap(),
            "https://app.azurewebsites.net/api/products/tools/7"
        );
        assert_eq!(
            fill("f", URL, &values(&[("category", "tools")])).unwrap(),
            "https://app.azurewebsites.net/api/products/tools"
        );
        assert_eq!(
            fill("f", URL, &values(&[("id", "7")])).unwrap_err(),
            RouteError::Missing {
                function: "f".into(),
                route: "products/{category:alpha}/{id:int?}".into(),
                name: "category".into()
            }
        );
        let error = fill("f", URL, &values(&[("category", "tools"), ("id", "seven")])).unwrap_err();
        assert_eq!(
            error.to_string(),
            "parameter `id` of `f` is `seven`, which is not int"
        );
        assert!(matches!(
            fill(
                "f",
                URL,
                &values(&[("category", "tools"), ("colour", "red")])
            ),
            Err(RouteError::Unknown { .. })
        ));
        assert_eq!(
            fill(
                "f",
                "http://h/api/a/{name}/{*rest}?code=k",
                &values(&[("name", "a b"), ("rest", "x/y")])
            )
            .unwrap(),
            "http://h/api/a/a%20b/x/y?code=k"
        );
        assert_eq!(
            fill("f", "http://h/api/a/{n:range(1,5)=3}", &values(&[])).unwrap(),
            "http://h/api/a/3"
        );
        assert!(fill("f", "http://h/api/a/{n:range(1,5)}", &values(&[("n", "9")])).is_err());
        assert!(
            fill(
                "f",
                "http://h/api/a/{s:minlength(3)}",
                &values(&[("s", "ab")])
            )
            .is_err()
        );
    }

    #[test]
    fn a_binding_without_methods_takes_every_method() {
        assert_eq!(
            allowed_methods(&json!({ "methods": ["get", "post"] })),
            ["GET", "POST"]
        );
        assert_eq!(allowed_methods(&json!({}))[0], "GET");
    }
}
