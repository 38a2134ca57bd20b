//! Batches: the unit that flows between steps. Columnar, so adding, dropping or renaming a
//! column costs nothing per row, and fan-out shares columns instead of copying them.

use std::sync::Arc;

use serde_json::Map;

use crate::row::RowId;
use crate::{METADATA_COLUMN, Value};

/// One column of a batch: a window onto shared cells, so splitting a batch, fanning it out or
/// emitting a loader's rows copies no cell.
#[derive(Clone, Debug)]
pub struct Column {
    pub(crate) name: Arc<str>,
    data: Arc<Vec<Value>>,
    start: usize,
    len: usize,
    /// Execution-order position of the producing step: when a join meets the same column from
    /// several branches, the nearest producer's value wins.
    pub(crate) producer: usize,
}

impl Column {
    pub(crate) fn new(name: impl Into<Arc<str>>, values: Vec<Value>, producer: usize) -> Self {
        let len = values.len();
        Column {
            name: name.into(),
            data: Arc::new(values),
            start: 0,
            len,
            producer,
        }
    }

    /// A window `start..start + len` onto shared cells.
    pub(crate) fn shared(
        name: impl Into<Arc<str>>,
        data: Arc<Vec<Value>>,
        start: usize,
        len: usize,
        producer: usize,
    ) -> Self {
        Column {
            name: name.into(),
            data,
            start,
            len,
            producer,
        }
    }

    /// The column's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Number of cells.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the column has no cells.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The column's cells, one per row.
    pub fn values(&self) -> &[Value] {
        &self.data[self.start..self.start + self.len]
    }

    /// The cells, owned by this column alone (copied if shared); `f` may change their number.
    fn edit(&mut self, f: impl FnOnce(&mut Vec<Value>)) {
        if self.start != 0 || self.len != self.data.len() {
            self.data = Arc::new(self.values().to_vec());
            self.start = 0;
        }
        let cells = Arc::make_mut(&mut self.data);
        f(cells);
        self.len = cells.len();
    }

    /// One cell, owned by this column alone.
    pub(crate) fn cell_mut(&mut self, row: usize) -> &mut Value {
        self.edit(|_| {});
        &mut Arc::make_mut(&mut self.data)[row]
    }

    /// The cells by value, without copying when this column owns them alone.
    pub(crate) fn into_values(self) -> Vec<Value> {
        if self.start == 0 && self.len == self.data.len() {
            Arc::try_unwrap(self.data).unwrap_or_else(|shared| (*shared).clone())
        } else {
            self.values().to_vec()
        }
    }

    /// The first `n` cells; `self` keeps the rest. Copies nothing.
    fn split_front(&mut self, n: usize) -> Column {
        let front = Column {
            len: n,
            ..self.clone()
        };
        self.start += n;
        self.len -= n;
        front
    }

    fn gather(&self, rows: &[u32]) -> Column {
        let cells = self.values();
        let values = rows.iter().map(|&r| cells[r as usize].clone()).collect();
        Column::new(self.name.clone(), values, self.producer)
    }
}

/// The rows of one predecessor of a join step, aligned with the joined rows.
#[derive(Clone, Debug)]
pub struct Branch {
    pub(crate) step: Arc<str>,
    /// Whether the predecessor delivered each joined row (routing sends rows to some only).
    pub(crate) present: Arc<Vec<bool>>,
    pub(crate) columns: Vec<Column>,
}

impl Branch {
    /// The predecessor's step name.
    pub fn step(&self) -> &str {
        &self.step
    }

    /// Whether this predecessor delivered row `row`.
    pub fn has_row(&self, row: usize) -> bool {
        self.present[row]
    }

    /// A column of this predecessor's rows (null where it did not deliver the row).
    pub fn column(&self, name: &str) -> Option<&[Value]> {
        self.columns
            .iter()
            .find(|c| &*c.name == name)
            .map(Column::values)
    }
}

/// Rows with their ids, stored by column.
#[derive(Clone, Debug, Default)]
pub struct Batch {
    pub(crate) ids: Arc<Vec<RowId>>,
    pub(crate) columns: Vec<Column>,
    /// Every source row with a smaller index has been delivered (or dropped) on this stream.
    pub(crate) through: u64,
    /// For join steps: each predecessor's view of the same rows.
    pub(crate) branches: Vec<Branch>,
}

impl Batch {
    pub(crate) fn new(ids: Vec<RowId>, columns: Vec<Column>, through: u64) -> Self {
        Batch {
            ids: Arc::new(ids),
            columns,
            through,
            branches: Vec::new(),
        }
    }

    /// A batch without rows that only advances the stream's watermark.
    pub(crate) fn watermark(through: u64) -> Self {
        Batch {
            through,
            ..Batch::default()
        }
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether the batch has no rows.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The row ids.
    pub fn ids(&self) -> &[RowId] {
        &self.ids
    }

    /// The columns, in order.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// A column's cells by name.
    pub fn column(&self, name: &str) -> Option<&[Value]> {
        self.columns
            .iter()
            .find(|c| &*c.name == name)
            .map(Column::values)
    }

    /// The column names, in order.
    pub fn column_names(&self) -> impl Iterator<Item = &str> {
        self.columns.iter().map(|c| c.name())
    }

    /// Row `row` as a JSON object (untyped access).
    pub fn row(&self, row: usize) -> Map<String, Value> {
        self.columns
            .iter()
            .map(|c| (c.name.to_string(), c.values()[row].clone()))
            .collect()
    }

    /// Adds a column, or replaces the column of that name in place.
    pub(crate) fn set_column(&mut self, column: Column) {
        match self.columns.iter_mut().find(|c| c.name == column.name) {
            Some(slot) => *slot = column,
            None => self.columns.push(column),
        }
    }

    /// Keeps only `names` (in that order) and the metadata column.
    pub(crate) fn keep_columns(&mut self, names: &[String]) {
        let mut columns = std::mem::take(&mut self.columns);
        let mut kept = Vec::with_capacity(names.len() + 1);
        for name in names.iter().map(String::as_str).chain([METADATA_COLUMN]) {
            if let Some(at) = columns.iter().position(|c| &*c.name == name) {
                kept.push(columns.swap_remove(at));
            }
        }
        self.columns = kept;
    }

    /// The rows at `rows` (indices may repeat), with ids given by the caller.
    pub(crate) fn gather(&self, rows: &[u32], ids: Vec<RowId>) -> Batch {
        Batch {
            ids: Arc::new(ids),
            columns: self.columns.iter().map(|c| c.gather(rows)).collect(),
            through: self.through,
            branches: self
                .branches
                .iter()
                .map(|b| Branch {
                    step: b.step.clone(),
                    present: Arc::new(rows.iter().map(|&r| b.present[r as usize]).collect()),
                    columns: b.columns.iter().map(|c| c.gather(rows)).collect(),
                })
                .collect(),
        }
    }

    /// Splits off the first `n` rows, moving cells rather than cloning where possible.
    pub(crate) fn split_front(&mut self, n: usize) -> Batch {
        if n >= self.len() {
            let through = self.through;
            let whole = std::mem::take(self);
            self.through = through;
            return whole;
        }
        let mut ids =
            Arc::try_unwrap(std::mem::take(&mut self.ids)).unwrap_or_else(|a| (*a).clone());
        let tail_ids = ids.split_off(n);
        self.ids = Arc::new(tail_ids);
        let front_columns = self.columns.iter_mut().map(|c| c.split_front(n)).collect();
        let front_branches = self
            .branches
            .iter_mut()
            .map(|b| {
                let mut present = Arc::try_unwrap(std::mem::take(&mut b.present))
                    .unwrap_or_else(|a| (*a).clone());
                let tail = present.split_off(n);
                b.present = Arc::new(tail);
                Branch {
                    step: b.step.clone(),
                    present: Arc::new(present),
                    columns: b.columns.iter_mut().map(|c| c.split_front(n)).collect(),
                }
            })
            .collect();
        let through = self.ids.first().map_or(self.through, RowId::index);
        Batch {
            ids: Arc::new(ids),
            columns: front_columns,
            through,
            branches: front_branches,
        }
    }

    /// Appends `other`'s rows; both must carry the same columns (the same stream).
    pub(crate) fn append(&mut self, other: Batch) {
        self.through = self.through.max(other.through);
        if other.is_empty() {
            return;
        }
        if self.is_empty() {
            let through = self.through;
            *self = other;
            self.through = through;
            return;
        }
        Arc::make_mut(&mut self.ids).extend(other.ids.iter().cloned());
        append_columns(
            &mut self.columns,
            other.columns,
            self.ids.len() - other.ids.len(),
        );
        for (mine, theirs) in self.branches.iter_mut().zip(other.branches) {
            Arc::make_mut(&mut mine.present).extend(theirs.present.iter().copied());
            let before = mine.present.len() - theirs.present.len();
            append_columns(&mut mine.columns, theirs.columns, before);
        }
    }
}

/// Appends columns by name; a column missing on one side is padded with nulls.
fn append_columns(mine: &mut Vec<Column>, theirs: Vec<Column>, rows_before: usize) {
    let added = theirs.first().map_or(0, |c| c.len);
    for column in theirs {
        match mine.iter_mut().find(|c| c.name == column.name) {
            Some(slot) => slot.edit(|cells| cells.extend(column.into_values())),
            None => {
                let mut values = vec![Value::Null; rows_before];
                values.extend(column.values().iter().cloned());
                mine.push(Column::new(column.name, values, column.producer));
            }
        }
    }
    for slot in mine.iter_mut() {
        if slot.len != rows_before + added {
            slot.edit(|cells| cells.resize(rows_before + added, Value::Null));
        }
    }
}

/// A batch written to and read back from the cache. Columns name their producer by step name
/// (`steps[producer]`), since positions may differ in a later run of a changed pipeline.
impl Batch {
    /// The batch as bytes: ids, watermark and columns (branches are not kept: a step's output
    /// has none).
    pub(crate) fn encode(&self, steps: &[Arc<str>]) -> Vec<u8> {
        // Serialized from borrows: a batch's cells are written, never copied first.
        #[derive(serde::Serialize)]
        struct Encoded<'a> {
            through: u64,
            ids: Vec<Value>,
            columns: Vec<EncodedColumn<'a>>,
        }
        #[derive(serde::Serialize)]
        struct EncodedColumn<'a> {
            name: &'a str,
            producer: Option<&'a str>,
            values: &'a [Value],
        }
        let ids = self
            .ids
            .iter()
            .map(|id| {
                if id.sub().is_empty() {
                    Value::from(id.index())
                } else {
                    serde_json::json!([id.index(), id.sub()])
                }
            })
            .collect();
        let columns = self
            .columns
            .iter()
            .map(|c| EncodedColumn {
                name: &c.name,
                producer: steps.get(c.producer).map(|s| &**s),
                values: c.values(),
            })
            .collect();
        serde_json::to_vec(&Encoded {
            through: self.through,
            ids,
            columns,
        })
        .expect("a batch is JSON")
    }

    /// The batch [`encode`](Self::encode) wrote; `None` if the bytes are not one.
    pub(crate) fn decode(bytes: &[u8], steps: &[Arc<str>]) -> Option<Batch> {
        let mut value: Value = serde_json::from_slice(bytes).ok()?;
        let through = value.get("through")?.as_u64()?;
        let ids = value
            .get("ids")?
            .as_array()?
            .iter()
            .map(|id| match id {
                Value::Array(parts) => {
                    let mut row = RowId::new(parts.first()?.as_u64()?);
                    for sub in parts.get(1)?.as_array()? {
                        row = row.child(u32::try_from(sub.as_u64()?).ok()?);
                    }
                    Some(row)
                }
                other => Some(RowId::new(other.as_u64()?)),
            })
            .collect::<Option<Vec<RowId>>>()?;
        let Value::Array(columns) = value.get_mut("columns")?.take() else {
            return None;
        };
        let mut batch = Batch::new(ids, Vec::new(), through);
        for mut column in columns {
            let name = column.get("name")?.as_str()?.to_owned();
            let producer = column
                .get("producer")
                .and_then(Value::as_str)
                .and_then(|p| steps.iter().position(|s| &**s == p))
                .unwrap_or(0);
            let Value::Array(values) = column.get_mut("values")?.take() else {
                return None;
            };
            if values.len() != batch.len() {
                return None;
            }
            batch.columns.push(Column::new(name, values, producer));
        }
        Some(batch)
    }

    /// sha256 of the rows' ids, column names and values: two chunks with the same hash hold
    /// the same rows.
    pub(crate) fn content_hash(&self) -> [u8; 32] {
        use sha2::Digest;
        let mut hasher = sha2::Sha256::new();
        for id in self.ids.iter() {
            hasher.update(id.index().to_le_bytes());
            hasher.update((id.sub().len() as u32).to_le_bytes());
            for sub in id.sub() {
                hasher.update(sub.to_le_bytes());
            }
        }
        let mut columns: Vec<&Column> = self.columns.iter().collect();
        columns.sort_by(|a, b| a.name.cmp(&b.name));
        for column in columns {
            crate::column::hash_cells(&mut hasher, &column.name, column.values());
        }
        hasher.finalize().into()
    }
}
