//! Fan-in: joins the rows of several predecessors by row id, never by position.
//!
//! Each stream is ordered by id and carries a watermark: every source row below it has been
//! delivered or dropped. Rows below the smallest watermark of all predecessors are complete and
//! are released. A row reaches the join if any predecessor delivered it (routing sends rows to
//! some branches only); a row one branch expanded into several meets the other branches' row it
//! came from.

use std::collections::HashMap;
use std::sync::Arc;

use crate::batch::{Batch, Branch, Column};
use crate::row::RowId;
use crate::{METADATA_COLUMN, Value};

struct Pending {
    step: Arc<str>,
    rows: Batch,
    through: u64,
}

pub(crate) struct Joiner {
    preds: Vec<Pending>,
}

impl Joiner {
    pub(crate) fn new(steps: &[Arc<str>]) -> Self {
        Joiner {
            preds: steps
                .iter()
                .map(|s| Pending {
                    step: s.clone(),
                    rows: Batch::default(),
                    through: 0,
                })
                .collect(),
        }
    }

    pub(crate) fn push(&mut self, slot: usize, batch: Batch) {
        let pred = &mut self.preds[slot];
        pred.through = pred.through.max(batch.through);
        pred.rows.append(batch);
    }

    /// The joined rows every predecessor is done with.
    pub(crate) fn release(&mut self) -> Batch {
        let watermark = self
            .preds
            .iter()
            .map(|p| p.through)
            .min()
            .unwrap_or(u64::MAX);
        let ready: Vec<usize> = self
            .preds
            .iter()
            .map(|p| {
                p.rows
                    .ids
                    .iter()
                    .take_while(|id| id.index() < watermark)
                    .count()
            })
            .collect();
        if ready.iter().all(|&n| n == 0) {
            return Batch::watermark(watermark);
        }
        let parts: Vec<Batch> = self
            .preds
            .iter_mut()
            .zip(ready)
            .map(|(p, n)| p.rows.split_front(n))
            .collect();
        let mut joined = merge(&self.preds, parts);
        joined.through = watermark;
        joined
    }
}

fn merge(preds: &[Pending], parts: Vec<Batch>) -> Batch {
    // Output ids: every delivered id that is not an ancestor of another one.
    let mut ids: Vec<RowId> = parts.iter().flat_map(|p| p.ids.iter().cloned()).collect();
    ids.sort();
    ids.dedup();
    let ids: Vec<RowId> = ids
        .iter()
        .enumerate()
        .filter(|(i, id)| ids.get(i + 1).is_none_or(|next| !next.descends_from(id)))
        .map(|(_, id)| id.clone())
        .collect();

    // For each predecessor, the row (if any) each output row comes from.
    let sources: Vec<Vec<Option<usize>>> = parts
        .iter()
        .map(|part| {
            let at: HashMap<&RowId, usize> =
                part.ids.iter().enumerate().map(|(i, id)| (id, i)).collect();
            ids.iter()
                .map(|id| {
                    (0..=id.sub().len()).rev().find_map(|depth| {
                        let ancestor = truncate(id, depth);
                        at.get(&ancestor).copied()
                    })
                })
                .collect()
        })
        .collect();

    // Merged columns: per column, the nearest producer's value, later predecessors on ties.
    let mut names: Vec<Arc<str>> = Vec::new();
    for part in &parts {
        for c in &part.columns {
            if !names.contains(&c.name) {
                names.push(c.name.clone());
            }
        }
    }
    let columns = names
        .into_iter()
        .map(|name| {
            let mut candidates: Vec<(usize, &Column)> = parts
                .iter()
                .enumerate()
                .filter_map(|(k, p)| p.columns.iter().find(|c| c.name == name).map(|c| (k, c)))
                .collect();
            candidates.sort_by_key(|(k, c)| std::cmp::Reverse((c.producer, *k)));
            if &*name == METADATA_COLUMN {
                let values = (0..ids.len())
                    .map(|row| {
                        let cells = candidates
                            .iter()
                            .filter_map(|(k, c)| sources[*k][row].map(|i| &c.values()[i]));
                        merge_metadata(cells)
                    })
                    .collect();
                return Column::new(name, values, 0);
            }
            let values = (0..ids.len())
                .map(|row| {
                    candidates
                        .iter()
                        .find_map(|(k, c)| sources[*k][row].map(|i| c.values()[i].clone()))
                        .unwrap_or(Value::Null)
                })
                .collect();
            Column::new(name, values, candidates[0].1.producer)
        })
        .collect();

    let branches = parts
        .iter()
        .zip(preds)
        .zip(&sources)
        .map(|((part, pred), source)| Branch {
            step: pred.step.clone(),
            present: Arc::new(source.iter().map(Option::is_some).collect()),
            columns: part
                .columns
                .iter()
                .map(|c| {
                    let cells = c.values();
                    let values = source
                        .iter()
                        .map(|i| i.map_or(Value::Null, |i| cells[i].clone()))
                        .collect();
                    Column::new(c.name.clone(), values, c.producer)
                })
                .collect(),
        })
        .collect();

    Batch {
        ids: Arc::new(ids),
        columns,
        through: 0,
        branches,
    }
}

/// The ancestor of `id` with `depth` sub-indices.
fn truncate(id: &RowId, depth: usize) -> RowId {
    let mut ancestor = RowId::new(id.index());
    for &n in &id.sub()[..depth] {
        ancestor = ancestor.child(n);
    }
    ancestor
}

/// The metadata of a joined row: every branch's keys, and the union of their errors.
fn merge_metadata<'a>(cells: impl Iterator<Item = &'a Value>) -> Value {
    let mut merged = serde_json::Map::new();
    for cell in cells {
        let Value::Object(map) = cell else { continue };
        for (key, value) in map {
            match (merged.get_mut(key), value) {
                (Some(Value::Array(have)), Value::Array(more)) => {
                    for item in more {
                        if !have.contains(item) {
                            have.push(item.clone());
                        }
                    }
                }
                (Some(_), _) => {}
                (None, _) => {
                    merged.insert(key.clone(), value.clone());
                }
            }
        }
    }
    if merged.is_empty() {
        Value::Null
    } else {
        Value::Object(merged)
    }
}
