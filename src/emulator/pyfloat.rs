//! Python `repr` of a float32 widened to f64, as the XGBoost container prints numbers.
//!
//! Python's `float.__repr__` uses the shortest digit string that round-trips the f64, written
//! positionally when the decimal exponent is in `-4..16` (`0.0001`, `1e+16` is the first
//! exponent form) and always with a `.0` or fraction in positional form.

use std::fmt::Write as _;

/// A fixed-size buffer `{:e}` formats into, so formatting never allocates.
struct StackBuf {
    buf: [u8; 40],
    len: usize,
}

impl std::fmt::Write for StackBuf {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        let dst = self.buf.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Append `repr(float(numpy.float32(v)))` to `out`.
pub fn push_repr_f32(out: &mut String, v: f32) {
    push_repr_f64(out, f64::from(v));
}

/// Append Python's `repr(v)` for an f64 to `out`.
pub fn push_repr_f64(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("nan");
        return;
    }
    if v.is_infinite() {
        out.push_str(if v > 0.0 { "inf" } else { "-inf" });
        return;
    }
    if v.is_sign_negative() {
        out.push('-');
    }
    let a = v.abs();
    if a == 0.0 {
        out.push_str("0.0");
        return;
    }
    // Rust's `{:e}` is the shortest round-trip form: "d.ddde-7" / "de16".
    let mut sb = StackBuf {
        buf: [0; 40],
        len: 0,
    };
    write!(sb, "{a:e}").expect("an f64 in exponent form fits 40 bytes");
    let s = &sb.buf[..sb.len];
    let epos = s
        .iter()
        .position(|&b| b == b'e')
        .expect("exponent form has an 'e'");
    let (mant, exp) = (&s[..epos], &s[epos + 1..]);
    let exp: i32 = std::str::from_utf8(exp)
        .ok()
        .and_then(|e| e.parse().ok())
        .expect("exponent is an integer");
    // Significant digits without the dot: "1.5" → "15".
    let mut digits = [0u8; 24];
    let mut nd = 0;
    for &b in mant {
        if b != b'.' {
            digits[nd] = b;
            nd += 1;
        }
    }
    // When the value lies exactly halfway between two shortest candidates, Rust's shortest
    // mode rounds up where Python (David Gay's dtoa) takes the correctly rounded, ties-to-even
    // digits: 0.93921661376953125 is "0.9392166137695312" in Python. The correctly rounded
    // string of the same length is used whenever it also round-trips.
    let mut exact = StackBuf {
        buf: [0; 40],
        len: 0,
    };
    write!(exact, "{a:.*e}", nd - 1).expect("an f64 in exponent form fits 40 bytes");
    let es = &exact.buf[..exact.len];
    if es != s {
        let round_trips = std::str::from_utf8(es)
            .ok()
            .and_then(|t| t.parse::<f64>().ok())
            == Some(a);
        let same_exp = es.ends_with(&s[epos..]);
        if round_trips && same_exp {
            nd = 0;
            for &b in es.iter().take_while(|&&b| b != b'e') {
                if b != b'.' {
                    digits[nd] = b;
                    nd += 1;
                }
            }
        }
    }
    let digits = std::str::from_utf8(&digits[..nd]).expect("ASCII digits");

    if (-4..16).contains(&exp) {
        if exp < 0 {
            out.push_str("0.");
            for _ in 0..(-exp - 1) {
                out.push('0');
            }
            out.push_str(digits);
        } else {
            let int_len = exp as usize + 1;
            if nd <= int_len {
                out.push_str(digits);
                for _ in nd..int_len {
                    out.push('0');
                }
                out.push_str(".0");
            } else {
                out.push_str(&digits[..int_len]);
                out.push('.');
                out.push_str(&digits[int_len..]);
            }
        }
    } else {
        out.push_str(&digits[..1]);
        if nd > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        let e = exp.unsigned_abs();
        if e < 10 {
            out.push('0');
        }
        let _ = write!(out, "{e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r32(v: f32) -> String {
        let mut s = String::new();
        push_repr_f32(&mut s, v);
        s
    }

    fn r64(v: f64) -> String {
        let mut s = String::new();
        push_repr_f64(&mut s, v);
        s
    }

    #[test]
    fn python_repr_examples() {
        assert_eq!(r32(0.0), "0.0");
        assert_eq!(r32(-0.0), "-0.0");
        assert_eq!(r32(1.0), "1.0");
        assert_eq!(r32(-3.0), "-3.0");
        assert_eq!(r32(f32::NAN), "nan");
        assert_eq!(r32(f32::INFINITY), "inf");
        assert_eq!(r32(f32::NEG_INFINITY), "-inf");
        assert_eq!(r32(0.5), "0.5");
        assert_eq!(r32(5.1), "5.099999904632568");
        assert_eq!(r32(3.2e-5), "3.199999991920777e-05");
        assert_eq!(r64(3.2e-5), "3.2e-05");
        assert_eq!(r64(1.5e-7), "1.5e-07");
        assert_eq!(r64(1e16), "1e+16");
        assert_eq!(r64(1.5e16), "1.5e+16");
        assert_eq!(r64(9999999999999998.0), "9999999999999998.0");
        assert_eq!(r64(1e15), "1000000000000000.0");
        assert_eq!(r64(0.0001), "0.0001");
        assert_eq!(r64(0.00001), "1e-05");
        assert_eq!(r64(123.456), "123.456");
        assert_eq!(r64(1e300), "1e+300");
        assert_eq!(r64(-2.5e-300), "-2.5e-300");
        assert_eq!(r64(5e-324), "5e-324");
        assert_eq!(r64(f64::MAX), "1.7976931348623157e+308");
        assert_eq!(r32(f32::MAX), "3.4028234663852886e+38");
        // Halfway between two 16-digit candidates: ties to even like Python.
        assert_eq!(r32(f32::from_bits(0x3f70_7080)), "0.9392166137695312");
        assert_eq!(r32(f32::from_bits(1)), "1.401298464324817e-45");
    }

    #[test]
    fn appends() {
        let mut s = String::from("x=");
        push_repr_f32(&mut s, 0.25);
        s.push(',');
        push_repr_f32(&mut s, 2.0);
        assert_eq!(s, "x=0.25,2.0");
    }
}
