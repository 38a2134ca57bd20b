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

/// `text` without a leading `label:` (`**Reason:** ...`), case-insensitive; `text` as it is
/// when it does not start with one.
pub(crate) fn without_label<'t>(text: &'t str, label: &str) -> &'t str {
    let cleaned = text.trim_start_matches(['*', '#', ' ']);
    let starts = cleaned
        .get(..label.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(label));
    if starts {
        let rest = cleaned[label.len()..].trim_start_matches(['*', ' ']);
        if let Some(rest) = rest.strip_prefix(':') {
            return rest.trim_start_matches(['*', ' ']).trim();
        }
    }
    text
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

/// The sections of `text` under the headings `labels` name (`## Positive`, `**Revision:**`,
/// `Teacher Reasoning:`): for each label, the text from its heading line (after the heading
/// and a `:` on it) to the next heading of any label, trimmed; `None` where the label has no
/// heading or its section is empty. A heading is a line that starts (after `#`, `*`, spaces)
/// with the label, case-insensitive, followed by nothing but `:`/`*`/spaces or by `:` and text.
pub(crate) fn labelled_sections<'t>(text: &'t str, labels: &[&str]) -> Vec<Option<&'t str>> {
    // (label index, heading start, body start)
    let mut headings: Vec<(usize, usize, usize)> = Vec::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        let stripped = line.trim_start_matches(['#', '*', ' ', '\t']);
        let lead = line.len() - stripped.len();
        let lower = stripped.to_ascii_lowercase();
        for (index, label) in labels.iter().enumerate() {
            let Some(rest) = lower.strip_prefix(&label.to_ascii_lowercase()) else {
                continue;
            };
            let after_label = rest.trim_start_matches(['*', ' ']);
            let body = if let Some(inline) = after_label.strip_prefix(':') {
                // `Label: text` or `**Label:**` then text on the next lines.
                let inline = inline.trim_start_matches(['*', ' ']);
                start + lead + (stripped.len() - inline.len())
            } else if after_label.trim().is_empty() {
                offset
            } else {
                continue; // `Positive feedback is ...`: a sentence, not a heading
            };
            headings.push((index, start, body.min(offset)));
            break;
        }
    }
    let mut sections = vec![None; labels.len()];
    for (i, &(index, _, body)) in headings.iter().enumerate() {
        let end = headings.get(i + 1).map_or(text.len(), |next| next.1);
        let section = text[body..end].trim();
        if sections[index].is_none() && !section.is_empty() {
            sections[index] = Some(section);
        }
    }
    sections
}

/// The JSON object in a generation: the whole text, the inside of a Markdown code fence, or
/// the span from the first `{` to the last `}` (a model's preamble around it).
pub(crate) fn json_object(generation: &str) -> Result<serde_json::Map<String, Value>, String> {
    let trimmed = generation.trim();
    let span = match (trimmed.find('{'), trimmed.rfind('}')) {
        (Some(open), Some(close)) if open < close => &trimmed[open..=close],
        _ => return Err("the generation holds no JSON object".to_owned()),
    };
    match serde_json::from_str::<Value>(span) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err("the generation holds no JSON object".to_owned()),
        Err(e) => Err(format!("the generation is not valid JSON: {e}")),
    }
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

    #[test]
    fn labelled_sections_and_json_objects() {
        let text = "Sure.\n## Positive\nA cat sat.\n\n## Negative\n\nA dog ran.\n";
        assert_eq!(
            labelled_sections(text, &["positive", "negative"]),
            [Some("A cat sat."), Some("A dog ran.")]
        );
        let text = "**Teacher Reasoning:** too long\nCorrected Student Solution:\nShort.";
        assert_eq!(
            labelled_sections(text, &["teacher reasoning", "corrected student solution"]),
            [Some("too long"), Some("Short.")]
        );
        // A sentence starting with a label is no heading; an empty section is none.
        assert_eq!(
            labelled_sections(
                "Positive thinking helps.\n## Negative\n",
                &["positive", "negative"]
            ),
            [None, None]
        );
        assert_eq!(
            json_object("Here:\n```json\n{\"labels\": [\"a\"]}\n```").unwrap()["labels"],
            serde_json::json!(["a"])
        );
        assert!(
            json_object("no json")
                .unwrap_err()
                .contains("no JSON object")
        );
        assert!(
            json_object("{\"labels\": [}")
                .unwrap_err()
                .contains("not valid JSON")
        );
    }
}
