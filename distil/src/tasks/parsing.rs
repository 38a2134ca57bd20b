//! Reading the catalogue tasks' generations: numbered sections, scores, lists. Each reader is
//! lenient about spacing and case and strict about what it returns: a value it cannot find is
//! `None`, never a guess.

use crate::Value;
use crate::step::Input;

/// The text after `label` (`Rating:`) on its line, trimmed; case-insensitive, markdown bold
/// (`**Rating**:`) allowed.
pub(crate) fn field<'t>(text: &'t str, label: &str) -> Option<&'t str> {
    text.lines().find_map(|line| {
        let cleaned = line.trim().trim_start_matches(['*', '#', '-', ' ']);
        let lower = cleaned.to_ascii_lowercase();
        let rest = lower.strip_prefix(&label.to_ascii_lowercase())?;
        let rest = rest.trim_start_matches('*').trim_start();
        let rest = rest.strip_prefix(':')?;
        let start = cleaned.len() - rest.len();
        Some(cleaned[start..].trim().trim_start_matches('*').trim())
    })
}

/// The first integer in `text` (`4`, `4/5`, `Score: 4.`).
pub(crate) fn first_integer(text: &str) -> Option<i64> {
    let start = text.find(|c: char| c.is_ascii_digit())?;
    let digits: String = text[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// The first number in `text`, decimals allowed.
pub(crate) fn first_number(text: &str) -> Option<f64> {
    let start = text.find(|c: char| c.is_ascii_digit())?;
    let number: String = text[start..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    number.trim_end_matches('.').parse().ok()
}

/// Splits `text` into the sections that start with a line holding `marker` followed by a
/// number (`#### Output for Text 2`, `[Response 2]`): the section of each number from 1 to
/// `count`, `None` where it is missing.
pub(crate) fn numbered_sections<'t>(
    text: &'t str,
    marker: &str,
    count: usize,
) -> Vec<Option<&'t str>> {
    let lower = text.to_ascii_lowercase();
    let marker = marker.to_ascii_lowercase();
    let mut starts: Vec<(usize, usize, usize)> = Vec::new(); // (number, marker start, body start)
    let mut from = 0;
    while let Some(found) = lower[from..].find(&marker) {
        let at = from + found;
        let after = at + marker.len();
        let rest = &lower[after..];
        let skipped = rest.len() - rest.trim_start_matches([' ', '#', ':']).len();
        let digits: String = rest[skipped..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        from = after;
        if let Ok(number) = digits.parse::<usize>() {
            let mut body = after + skipped + digits.len();
            // The rest of the marker's line (`]`, `:`) is not the section's text.
            if let Some(end) = lower[body..].find('\n') {
                let tail = lower[body..body + end].trim_matches([']', ':', ' ', '*', ')']);
                if tail.is_empty() {
                    body += end;
                }
            }
            // The section before ends where the marker's line starts (`#### Output ..`).
            let line_start = lower[..at].rfind('\n').map_or(0, |n| n + 1);
            let lead = &lower[line_start..at];
            let start = if lead.chars().all(|c| matches!(c, '#' | '*' | ' ' | '[')) {
                line_start
            } else {
                at
            };
            starts.push((number, start, body));
        }
    }
    let mut sections = vec![None; count];
    for (i, &(number, _, body)) in starts.iter().enumerate() {
        let end = starts.get(i + 1).map_or(text.len(), |next| next.1);
        if (1..=count).contains(&number) && sections[number - 1].is_none() && body <= end {
            sections[number - 1] = Some(text[body..end].trim_matches([']', ':', ' ', '\n']));
        }
    }
    sections
}

/// The items of a numbered or bulleted list, one per line, markers removed; lines that are
/// not items (a preamble) are skipped when the text has items.
pub(crate) fn list_items(text: &str) -> Vec<String> {
    let items: Vec<String> = text
        .lines()
        .filter_map(|line| {
            let line = line.trim();
            let without_number = line.trim_start_matches(|c: char| c.is_ascii_digit());
            let marked = without_number.len() < line.len()
                && (without_number.starts_with('.') || without_number.starts_with(')'));
            let item = if marked {
                &without_number[1..]
            } else {
                line.strip_prefix(['-', '*', '•'])?
            };
            let item = item.trim();
            (!item.is_empty()).then(|| item.to_owned())
        })
        .collect();
    if !items.is_empty() {
        return items;
    }
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(ToOwned::to_owned)
        .collect()
}

/// Row `row` of a text column; an error names the column.
pub(crate) fn text(input: &Input<'_>, column: &str, row: usize) -> Result<String, String> {
    match input.column(column).map(|c| &c[row]) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Null) | None => Err(format!("column `{column}` is missing or null")),
        Some(other) => Err(format!("column `{column}` holds {other}, not a text")),
    }
}

/// Row `row` of a text column that may be absent or null.
pub(crate) fn optional_text(input: &Input<'_>, column: &str, row: usize) -> Option<String> {
    input
        .column(column)
        .and_then(|c| c[row].as_str())
        .map(ToOwned::to_owned)
}

/// Row `row` of a list-of-texts column; null items stay `None`.
pub(crate) fn texts(
    input: &Input<'_>,
    column: &str,
    row: usize,
) -> Result<Vec<Option<String>>, String> {
    match input.column(column).map(|c| &c[row]) {
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(s) => Ok(Some(s.clone())),
                Value::Null => Ok(None),
                other => Err(format!(
                    "column `{column}` holds {other} in its list, not a text"
                )),
            })
            .collect(),
        Some(Value::Null) | None => Err(format!("column `{column}` is missing or null")),
        Some(other) => Err(format!(
            "column `{column}` holds {other}, not a list of texts"
        )),
    }
}

/// A cell of an optional value.
pub(crate) fn opt<T: Into<Value>>(value: Option<T>) -> Value {
    value.map_or(Value::Null, Into::into)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_numbers_sections_and_items() {
        assert_eq!(field("**Rating**: 4\nRationale: ok", "rating"), Some("4"));
        assert_eq!(field("Rationale: fine", "Rationale"), Some("fine"));
        assert_eq!(field("nothing", "rating"), None);
        assert_eq!(first_integer("Score: 4/5"), Some(4));
        assert_eq!(first_number("Score: 3.5."), Some(3.5));
        assert_eq!(first_number("none"), None);
        let text = "#### Output for Text 1\nRating: 2\n#### Output for Text 3\nRating: 5\n";
        let sections = numbered_sections(text, "Output for Text", 3);
        assert_eq!(sections[0], Some("Rating: 2"));
        assert_eq!(sections[1], None);
        assert_eq!(sections[2], Some("Rating: 5"));
        assert_eq!(
            numbered_sections(
                "[Response 1] Score: 4\n[Response 2] Score: 2",
                "[Response",
                2
            ),
            vec![Some("Score: 4"), Some("Score: 2")]
        );
        assert_eq!(
            list_items("Here:\n1. one\n2) two\n- three"),
            ["one", "two", "three"]
        );
        assert_eq!(list_items("a\n\nb"), ["a", "b"]);
    }
}
