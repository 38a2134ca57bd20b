//! Column types at compile time: the projections `#[derive(Row)]`, `#[step]` and `#[task]`
//! implement by column id, and the check `pipeline!` emits for each column a step reads.

use std::marker::PhantomData;

use super::ColumnValue;

/// A column's Rust type, by the column id (a hash of its name): implemented by
/// `#[derive(Row)]` per field.
pub trait Col<const ID: u64> {
    /// The field's Rust type.
    type Ty;
}

/// A step's input column type, by column id.
pub trait InCol<const ID: u64> {
    /// The argument's type, as the check reads it.
    type Ty;
}

/// A step's output column type, by column id.
pub trait OutCol<const ID: u64> {
    /// The column's Rust type as the step writes it.
    type Ty;
}

/// What a `serde_json::Value` input accepts: any column type.
pub struct AnyColumn;

/// Whether a column of type `Self` satisfies a step input expecting `Expected`: the compile-time
/// type check `pipeline!` emits for each column a step reads, behind a trait of its own that
/// carries the message naming the column, the steps and the fix.
pub trait ColumnTypeIs<Expected> {}

#[diagnostic::do_not_recommend]
impl<T: ColumnValue> ColumnTypeIs<T> for T {}
#[diagnostic::do_not_recommend]
impl<T: ColumnValue> ColumnTypeIs<Option<T>> for T {}
#[diagnostic::do_not_recommend]
impl<T: ColumnValue> ColumnTypeIs<AnyColumn> for T {}
/// A list input whose items are optional accepts a list of plain items, as at run time.
#[diagnostic::do_not_recommend]
impl<T: ColumnValue> ColumnTypeIs<Vec<Option<T>>> for Vec<T> {}

/// A grouped column's type: one value of `T` per branch or generation, null where it failed.
pub type Grouped<T> = Vec<<T as ColumnValue>::Nullable>;

/// The type of `producer`'s output column `ID`, for steps whose type the pipeline does not name.
#[inline(always)]
pub fn out_col<const ID: u64, P: OutCol<ID>>(_producer: &P) -> PhantomData<P::Ty> {
    PhantomData
}

/// The type of `consumer`'s input column `ID`, for steps whose type the pipeline does not name.
#[inline(always)]
pub fn in_col<const ID: u64, Q: InCol<ID>>(_consumer: &Q) -> PhantomData<Q::Ty> {
    PhantomData
}

/// The grouped form of a column type.
#[inline(always)]
pub fn grouped<T: ColumnValue>(_column: PhantomData<T>) -> PhantomData<Grouped<T>> {
    PhantomData
}
