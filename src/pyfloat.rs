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
    // digits: 0.93921661376953125 is "0.9392166137695312" in Python. Such ties are rare and
    // cheap to detect; only then is the correctly rounded string of the same length made,
    // and used if it also round-trips.
    if is_decimal_tie(a, nd) {
        let mut exact = StackBuf {
            buf: [0; 40],
            len: 0,
        };
        write!(exact, "{a:.*e}", nd - 1).expect("an f64 in exponent form fits 40 bytes");
        let es = &exact.buf[..exact.len];
        let round_trips = std::str::from_utf8(es)
            .ok()
            .and_then(|t| t.parse::<f64>().ok())
            == Some(a);
        if es != s && round_trips && es.ends_with(&s[epos..]) {
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

/// Whether the exact decimal value of `a` (> 0, finite) has exactly `nd + 1` significant
/// digits ending in 5, i.e. lies halfway between two `nd`-digit decimals.
fn is_decimal_tie(a: f64, nd: usize) -> bool {
    const LIMIT: u128 = 1_000_000_000_000_000_000; // ties need <= 18 digits (nd <= 17)
    let bits = a.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let frac = bits & ((1u64 << 52) - 1);
    let (mut m, mut e) = if biased == 0 {
        (frac, -1074)
    } else {
        (frac | (1u64 << 52), biased - 1075)
    };
    // a = m * 2^e with m odd; its exact decimal digits are m * 5^-e (e < 0) or m * 2^e.
    let tz = m.trailing_zeros();
    m >>= tz;
    e += tz as i32;
    let n: u128 = if e >= 0 {
        if e > 60 {
            return false;
        }
        u128::from(m) << e
    } else {
        let k = e.unsigned_abs();
        if k > 27 {
            return false; // 5^28 alone has 20 digits
        }
        u128::from(m) * 5u128.pow(k)
    };
    if n >= LIMIT || n % 10 != 5 {
        return false;
    }
    let mut digits = 0;
    let mut t = n;
    while t > 0 {
        t /= 10;
        digits += 1;
    }
    digits == nd + 1
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
    fn detects_decimal_ties() {
        let half = f64::from(f32::from_bits(0x3f70_7080)); // exactly 0.93921661376953125
        assert!(is_decimal_tie(half, 16));
        assert!(!is_decimal_tie(half, 17));
        assert!(is_decimal_tie(0.125, 2));
        assert!(!is_decimal_tie(0.125, 3));
        assert!(!is_decimal_tie(0.1, 1));
        assert!(is_decimal_tie(25.0, 1));
        assert!(!is_decimal_tie(1e300, 1));
        assert!(!is_decimal_tie(5e-324, 1));
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
