//! Python `repr` of a float32 widened to f64, as the XGBoost container prints numbers.
//! STUB: interface only, replaced by the model work.

/// Append `repr(float(numpy.float32(v)))` to `out`.
pub fn push_repr_f32(out: &mut String, v: f32) {
    use std::fmt::Write;
    let _ = write!(out, "{}", f64::from(v));
}
