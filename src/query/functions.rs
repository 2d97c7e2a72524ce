//! Our SQL functions, thin wrappers over `analysis`: the numbers are computed there.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Float64Array, ListArray};
use arrow::datatypes::{DataType, Field, Float64Type};
use datafusion::error::Result;
use datafusion::logical_expr::{Accumulator, AggregateUDF, ColumnarValue, ScalarUDF, Volatility, create_udaf, create_udf};
use datafusion::prelude::SessionContext;
use datafusion::scalar::ScalarValue;

use crate::analysis::stats::{cpk_value, robust_sigma};

/// Names and one-line descriptions, for `yieldlake tables`.
pub const FUNCTIONS: &[(&str, &str)] = &[
    ("cpk(mean, sd, lo, hi)", "min(hi-mean, mean-lo)/(3 sd); one-sided when a limit is NULL"),
    ("robust_sigma(x)", "(Q3-Q1)/1.35, quantiles by linear interpolation (type 7)"),
];

/// `cpk(mean, sd, lo, hi)` and `robust_sigma(x)`.
pub fn register(ctx: &SessionContext) {
    let (scalar, aggregate) = udfs();
    scalar.into_iter().for_each(|f| ctx.register_udf(f));
    aggregate.into_iter().for_each(|f| ctx.register_udaf(f));
}

/// The functions as values, for registries that are not a session's (a Ballista
/// scheduler's and executor's).
pub fn udfs() -> (Vec<ScalarUDF>, Vec<AggregateUDF>) {
    let cpk = create_udf(
        "cpk",
        vec![DataType::Float64, DataType::Float64, DataType::Float64, DataType::Float64],
        DataType::Float64,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let f = |i: usize| arrays[i].as_primitive::<Float64Type>();
            let (m, s, lo, hi) = (f(0), f(1), f(2), f(3));
            let out: Float64Array = (0..m.len())
                .map(|i| {
                    let g = |a: &arrow::array::PrimitiveArray<Float64Type>| (!a.is_null(i)).then(|| a.value(i));
                    cpk_value(g(m)?, g(s)?, g(lo), g(hi))
                })
                .collect();
            Ok(ColumnarValue::Array(Arc::new(out)))
        }),
    );
    let rs = create_udaf(
        "robust_sigma",
        vec![DataType::Float64],
        Arc::new(DataType::Float64),
        Volatility::Immutable,
        Arc::new(|_| Ok(Box::new(RobustSigma::default()))),
        Arc::new(vec![DataType::List(Arc::new(Field::new_list_field(DataType::Float64, true)))]),
    );
    (vec![cpk], vec![rs])
}

#[derive(Debug, Default)]
struct RobustSigma {
    values: Vec<f64>,
}

impl Accumulator for RobustSigma {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let a = values[0].as_primitive::<Float64Type>();
        self.values.extend(a.iter().flatten().filter(|v| !v.is_nan()));
        Ok(())
    }
    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Float64(robust_sigma(&mut self.values)))
    }
    fn size(&self) -> usize {
        std::mem::size_of::<Self>() + self.values.capacity() * 8
    }
    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let list = ListArray::from_iter_primitive::<Float64Type, _, _>(vec![Some(self.values.iter().map(|v| Some(*v)))]);
        Ok(vec![ScalarValue::List(Arc::new(list))])
    }
    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let l = states[0].as_list::<i32>();
        for i in 0..l.len() {
            if l.is_null(i) {
                continue;
            }
            let v = l.value(i);
            self.values.extend(v.as_primitive::<Float64Type>().iter().flatten());
        }
        Ok(())
    }
}
