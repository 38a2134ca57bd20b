//! Column types: how a Rust type maps to a cell [`Value`] and back, and how it is described.

pub(crate) mod cells;
pub(crate) mod typing;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::Value;

/// The type of a column, as declared by a step or a [`Row`](crate::Row).
///
/// It is what the runtime validator compares and what the Distiset maps to Arrow types.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum DataType {
    /// `bool`.
    Bool,
    /// A signed integer of this many bits.
    Int(u8),
    /// An unsigned integer of this many bits.
    UInt(u8),
    /// A float of this many bits.
    Float(u8),
    /// `String`.
    String,
    /// Any JSON value (`serde_json::Value`).
    Json,
    /// `Vec<T>`.
    List(Box<DataType>),
    /// `Option<T>`: the column may be null or absent.
    Optional(Box<DataType>),
    /// A string-keyed map (`BTreeMap<String, T>`).
    Map(Box<DataType>),
    /// A nested `#[derive(Row)]` struct.
    Struct {
        /// The struct's name.
        name: &'static str,
        /// Its fields, as columns.
        fields: Arc<[ColumnSpec]>,
    },
}

impl DataType {
    /// Whether a column of type `found` satisfies an input declared as `self`.
    ///
    /// An optional input accepts the type or its optional form. A `Json` input accepts any
    /// column, and a `Json` column (an untyped loader's) is accepted by any input: its cells are
    /// checked one by one when the step reads them.
    pub fn accepts(&self, found: &DataType) -> bool {
        match (self, found) {
            (DataType::Json, _) | (_, DataType::Json) => true,
            (DataType::Optional(inner), DataType::Optional(found)) => inner.accepts(found),
            (DataType::Optional(inner), found) => inner.accepts(found),
            (DataType::List(a), DataType::List(b)) | (DataType::Map(a), DataType::Map(b)) => {
                a.accepts(b)
            }
            (a, b) => a == b,
        }
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataType::Bool => f.write_str("bool"),
            DataType::Int(bits) => write!(f, "i{bits}"),
            DataType::UInt(bits) => write!(f, "u{bits}"),
            DataType::Float(bits) => write!(f, "f{bits}"),
            DataType::String => f.write_str("String"),
            DataType::Json => f.write_str("Value"),
            DataType::List(inner) => write!(f, "Vec<{inner}>"),
            DataType::Optional(inner) => write!(f, "Option<{inner}>"),
            DataType::Map(inner) => write!(f, "BTreeMap<String, {inner}>"),
            DataType::Struct { name, .. } => f.write_str(name),
        }
    }
}

impl DataType {
    /// The type its [`Display`](fmt::Display) form names (`Vec<Option<String>>`); a struct's
    /// name reads as [`Json`](DataType::Json), which accepts any column, so a pipeline file
    /// keeps its column checks as far as names and types allow.
    pub(crate) fn parse(text: &str) -> Option<DataType> {
        let text = text.trim();
        let inner = |prefix: &str| {
            text.strip_prefix(prefix)
                .and_then(|rest| rest.strip_suffix('>'))
                .and_then(DataType::parse)
                .map(Box::new)
        };
        let bits = |prefix: char| text.strip_prefix(prefix).and_then(|b| b.parse::<u8>().ok());
        Some(match text {
            "bool" => DataType::Bool,
            "String" => DataType::String,
            "Value" => DataType::Json,
            _ if text.starts_with("Vec<") => DataType::List(inner("Vec<")?),
            _ if text.starts_with("Option<") => DataType::Optional(inner("Option<")?),
            _ if text.starts_with("BTreeMap<String, ") => {
                DataType::Map(inner("BTreeMap<String, ")?)
            }
            _ if bits('i').is_some() => DataType::Int(bits('i')?),
            _ if bits('u').is_some() => DataType::UInt(bits('u')?),
            _ if bits('f').is_some() => DataType::Float(bits('f')?),
            _ if !text.is_empty() && text.chars().all(|c| c.is_alphanumeric() || c == '_') => {
                DataType::Json
            }
            _ => return None,
        })
    }
}

/// A named, typed column.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ColumnSpec {
    /// The column's name.
    pub name: String,
    /// The column's type.
    pub data_type: DataType,
    /// `false` for optional inputs: used when present, never an error when absent.
    pub required: bool,
}

impl ColumnSpec {
    /// The columns as a pipeline file records them: `{"name", "type", "required"}` each.
    pub(crate) fn to_settings(columns: &[ColumnSpec]) -> Value {
        Value::Array(
            columns
                .iter()
                .map(|c| {
                    serde_json::json!({
                        "name": c.name,
                        "type": c.data_type.to_string(),
                        "required": c.required,
                    })
                })
                .collect(),
        )
    }

    /// The columns recorded at entry `key` by [`to_settings`](Self::to_settings).
    pub(crate) fn from_settings(
        settings: &crate::settings::Settings<'_>,
        key: &str,
    ) -> Result<Vec<ColumnSpec>, String> {
        #[derive(serde::Deserialize)]
        struct Recorded {
            name: String,
            #[serde(rename = "type")]
            data_type: String,
            #[serde(default = "required")]
            required: bool,
        }
        fn required() -> bool {
            true
        }
        let recorded: Vec<Recorded> = settings.get(key)?;
        recorded
            .into_iter()
            .map(|c| {
                let data_type = DataType::parse(&c.data_type).ok_or_else(|| {
                    format!(
                        "`{}`: column `{}` has type `{}`, which is no column type",
                        settings.key_path(key),
                        c.name,
                        c.data_type
                    )
                })?;
                Ok(ColumnSpec {
                    name: c.name,
                    data_type,
                    required: c.required,
                })
            })
            .collect()
    }

    /// A required column.
    pub fn new(name: impl Into<String>, data_type: DataType) -> Self {
        ColumnSpec {
            name: name.into(),
            data_type,
            required: true,
        }
    }

    /// An optional column.
    pub fn optional(name: impl Into<String>, data_type: DataType) -> Self {
        ColumnSpec {
            name: name.into(),
            data_type,
            required: false,
        }
    }
}

/// Why a cell could not be read as the type a step asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CellError {
    /// What the step asked for.
    pub expected: String,
    /// What the cell held.
    pub found: String,
}

impl CellError {
    pub(crate) fn new(expected: impl fmt::Display, found: Option<&Value>) -> Self {
        let found = match found {
            None => "no value".to_owned(),
            Some(Value::Null) => "null".to_owned(),
            Some(Value::Bool(_)) => "a bool".to_owned(),
            Some(Value::Number(n)) => format!("the number {n}"),
            Some(Value::String(s)) if s.len() > 40 => "a string".to_owned(),
            Some(Value::String(s)) => format!("the string {s:?}"),
            Some(Value::Array(_)) => "a list".to_owned(),
            Some(Value::Object(_)) => "an object".to_owned(),
        };
        CellError {
            expected: expected.to_string(),
            found,
        }
    }
}

impl fmt::Display for CellError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "expected {}, found {}", self.expected, self.found)
    }
}

impl std::error::Error for CellError {}

/// A Rust type that can be stored in a column: it converts to and from a cell [`Value`].
///
/// Implemented for `String`, `bool`, the integer and float types, `serde_json::Value`,
/// `Option<T>`, `Vec<T>`, `BTreeMap<String, T>` and every `#[derive(Row)]` struct.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be stored in a column",
    note = "columns hold String, bool, integers, floats, serde_json::Value, Option<T>, Vec<T>, BTreeMap<String, T> and #[derive(Row)] structs"
)]
pub trait ColumnValue: Sized + Send + 'static {
    /// `true` for `Option<T>`: as a step argument, the column is an optional input.
    const NULLABLE: bool = false;
    /// What a step input of this type accepts at compile time: `Self`, or
    /// `AnyColumn` (any type) for `serde_json::Value`.
    #[doc(hidden)]
    type Expect;
    /// The type with null allowed: `Option<Self>`, or `Self` when it holds null already
    /// (`Option<T>`, `Value`). A grouped column is a `Vec` of it (a branch that failed on a row
    /// gives null).
    #[doc(hidden)]
    type Nullable: ColumnValue;
    /// The column type.
    fn data_type() -> DataType;
    /// Moves the value into a cell.
    fn into_value(self) -> Value;
    /// Reads a cell; `None` when the column is absent from the row.
    fn from_value(value: Option<&Value>) -> Result<Self, CellError>;
}

impl ColumnValue for String {
    type Expect = Self;
    type Nullable = Option<Self>;
    fn data_type() -> DataType {
        DataType::String
    }
    fn into_value(self) -> Value {
        Value::String(self)
    }
    fn from_value(value: Option<&Value>) -> Result<Self, CellError> {
        match value {
            Some(Value::String(s)) => Ok(s.clone()),
            other => Err(CellError::new("a string", other)),
        }
    }
}

impl ColumnValue for bool {
    type Expect = Self;
    type Nullable = Option<Self>;
    fn data_type() -> DataType {
        DataType::Bool
    }
    fn into_value(self) -> Value {
        Value::Bool(self)
    }
    fn from_value(value: Option<&Value>) -> Result<Self, CellError> {
        match value {
            Some(Value::Bool(b)) => Ok(*b),
            other => Err(CellError::new("a bool", other)),
        }
    }
}

macro_rules! integer_columns {
    ($($ty:ty => $variant:ident($bits:literal) via $as:ident),* $(,)?) => {$(
        impl ColumnValue for $ty {
            type Expect = Self;
            type Nullable = Option<Self>;
            fn data_type() -> DataType {
                DataType::$variant($bits)
            }
            fn into_value(self) -> Value {
                Value::from(self)
            }
            fn from_value(value: Option<&Value>) -> Result<Self, CellError> {
                value
                    .and_then(Value::$as)
                    .and_then(|n| <$ty>::try_from(n).ok())
                    .ok_or_else(|| CellError::new(concat!("an integer that fits ", stringify!($ty)), value))
            }
        }
    )*};
}

integer_columns! {
    i8 => Int(8) via as_i64, i16 => Int(16) via as_i64, i32 => Int(32) via as_i64, i64 => Int(64) via as_i64,
    u8 => UInt(8) via as_u64, u16 => UInt(16) via as_u64, u32 => UInt(32) via as_u64, u64 => UInt(64) via as_u64,
}

impl ColumnValue for usize {
    type Expect = Self;
    type Nullable = Option<Self>;
    fn data_type() -> DataType {
        DataType::UInt(64)
    }
    fn into_value(self) -> Value {
        Value::from(self as u64)
    }
    fn from_value(value: Option<&Value>) -> Result<Self, CellError> {
        value
            .and_then(Value::as_u64)
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| CellError::new("an unsigned integer", value))
    }
}

impl ColumnValue for f64 {
    type Expect = Self;
    type Nullable = Option<Self>;
    fn data_type() -> DataType {
        DataType::Float(64)
    }
    fn into_value(self) -> Value {
        serde_json::Number::from_f64(self).map_or(Value::Null, Value::Number)
    }
    fn from_value(value: Option<&Value>) -> Result<Self, CellError> {
        value
            .and_then(Value::as_f64)
            .ok_or_else(|| CellError::new("a number", value))
    }
}

impl ColumnValue for f32 {
    type Expect = Self;
    type Nullable = Option<Self>;
    fn data_type() -> DataType {
        DataType::Float(32)
    }
    fn into_value(self) -> Value {
        f64::from(self).into_value()
    }
    fn from_value(value: Option<&Value>) -> Result<Self, CellError> {
        f64::from_value(value).map(|f| f as f32)
    }
}

impl ColumnValue for Value {
    type Expect = crate::column::typing::AnyColumn;
    type Nullable = Self;
    fn data_type() -> DataType {
        DataType::Json
    }
    fn into_value(self) -> Value {
        self
    }
    fn from_value(value: Option<&Value>) -> Result<Self, CellError> {
        Ok(value.cloned().unwrap_or(Value::Null))
    }
}

impl<T: ColumnValue> ColumnValue for Option<T> {
    type Expect = Self;
    type Nullable = Self;
    const NULLABLE: bool = true;
    fn data_type() -> DataType {
        DataType::Optional(Box::new(T::data_type()))
    }
    fn into_value(self) -> Value {
        self.map_or(Value::Null, T::into_value)
    }
    fn from_value(value: Option<&Value>) -> Result<Self, CellError> {
        match value {
            None | Some(Value::Null) => Ok(None),
            some => T::from_value(some).map(Some),
        }
    }
}

impl<T: ColumnValue> ColumnValue for Vec<T> {
    type Expect = Self;
    type Nullable = Option<Self>;
    fn data_type() -> DataType {
        DataType::List(Box::new(T::data_type()))
    }
    fn into_value(self) -> Value {
        Value::Array(self.into_iter().map(T::into_value).collect())
    }
    fn from_value(value: Option<&Value>) -> Result<Self, CellError> {
        match value {
            Some(Value::Array(items)) => items.iter().map(|v| T::from_value(Some(v))).collect(),
            other => Err(CellError::new(
                format_args!("a list of {}", T::data_type()),
                other,
            )),
        }
    }
}

impl<T: ColumnValue> ColumnValue for BTreeMap<String, T> {
    type Expect = Self;
    type Nullable = Option<Self>;
    fn data_type() -> DataType {
        DataType::Map(Box::new(T::data_type()))
    }
    fn into_value(self) -> Value {
        Value::Object(self.into_iter().map(|(k, v)| (k, v.into_value())).collect())
    }
    fn from_value(value: Option<&Value>) -> Result<Self, CellError> {
        match value {
            Some(Value::Object(map)) => map
                .iter()
                .map(|(k, v)| Ok((k.clone(), T::from_value(Some(v))?)))
                .collect(),
            other => Err(CellError::new("an object", other)),
        }
    }
}

/// A step argument read from a cell: a [`ColumnValue`] (cloned), or a borrow of the cell
/// (`&str`, `&Value`, `&[Value]`), or `Option` of either for an optional input column.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a step input",
    note = "step inputs are column types (String, bool, integers, floats, Vec<T>, Option<T>, #[derive(Row)] structs), or borrows `&str`, `&Value`, `&[Value]`"
)]
pub trait Arg<'a>: Sized {
    /// The column type the argument reads, as upstream steps produce it.
    type Column: ColumnValue;
    /// What the argument accepts when `pipeline!` checks column types.
    #[doc(hidden)]
    type Expect;
    /// `false` for `Option<_>`: the column may be absent upstream.
    const REQUIRED: bool = true;
    /// Reads the argument from the cell (`None` when the column is absent).
    fn from_cell(value: Option<&'a Value>) -> Result<Self, CellError>;
}

impl<'a, T: ColumnValue> Arg<'a> for T {
    type Column = T;
    type Expect = T::Expect;
    const REQUIRED: bool = !T::NULLABLE;
    fn from_cell(value: Option<&'a Value>) -> Result<Self, CellError> {
        T::from_value(value)
    }
}

impl<'a> Arg<'a> for &'a str {
    type Column = String;
    type Expect = String;
    fn from_cell(value: Option<&'a Value>) -> Result<Self, CellError> {
        match value {
            Some(Value::String(s)) => Ok(s),
            other => Err(CellError::new("a string", other)),
        }
    }
}

impl<'a> Arg<'a> for &'a Value {
    type Column = Value;
    type Expect = crate::column::typing::AnyColumn;
    fn from_cell(value: Option<&'a Value>) -> Result<Self, CellError> {
        value.ok_or_else(|| CellError::new("a value", None))
    }
}

impl<'a> Arg<'a> for &'a [Value] {
    type Column = Vec<Value>;
    type Expect = Vec<Value>;
    fn from_cell(value: Option<&'a Value>) -> Result<Self, CellError> {
        match value {
            Some(Value::Array(items)) => Ok(items),
            other => Err(CellError::new("a list", other)),
        }
    }
}

/// Optional borrowed inputs (`Option<&str>` ...). Owned `Option<T>` goes through [`ColumnValue`].
macro_rules! optional_borrow {
    ($($ty:ty),*) => {$(
        impl<'a> Arg<'a> for Option<$ty> {
            type Column = Option<<$ty as Arg<'a>>::Column>;
            type Expect = Option<<$ty as Arg<'a>>::Column>;
            const REQUIRED: bool = false;
            fn from_cell(value: Option<&'a Value>) -> Result<Self, CellError> {
                match value {
                    None | Some(Value::Null) => Ok(None),
                    some => <$ty>::from_cell(some).map(Some),
                }
            }
        }
    )*};
}

optional_borrow!(&'a str, &'a Value, &'a [Value]);

/// Feeds a column's name and cells into `hasher`, each length-prefixed so no two columns hash
/// alike: the one way rows are hashed, for loaders' fingerprints and replayed batches alike.
pub(crate) fn hash_cells<'a>(
    hasher: &mut sha2::Sha256,
    name: &str,
    cells: impl IntoIterator<Item = &'a Value>,
) {
    use sha2::Digest;
    hasher.update((name.len() as u64).to_le_bytes());
    hasher.update(name.as_bytes());
    for cell in cells {
        let text = cell.to_string();
        hasher.update((text.len() as u64).to_le_bytes());
        hasher.update(text.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn optional_accepts_plain_and_optional() {
        let opt = DataType::Optional(Box::new(DataType::String));
        assert!(opt.accepts(&DataType::String));
        assert!(opt.accepts(&opt));
        assert!(!DataType::String.accepts(&opt));
        assert!(!DataType::UInt(64).accepts(&DataType::UInt(32)));
    }

    #[test]
    fn cells_round_trip_and_errors_say_what_was_found() {
        let v = vec![Some(3u32), None].into_value();
        assert_eq!(
            <Vec<Option<u32>>>::from_value(Some(&v)).unwrap(),
            vec![Some(3), None]
        );
        let err = u8::from_value(Some(&Value::from(300))).unwrap_err();
        assert_eq!(
            err.to_string(),
            "expected an integer that fits u8, found the number 300"
        );
        assert_eq!(
            <&str>::from_cell(None).unwrap_err().to_string(),
            "expected a string, found no value"
        );
    }
}
