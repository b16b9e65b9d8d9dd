//! The pure part of the service: validating input and computing statistics.
//! Has no WASI dependencies, so it is unit-tested natively.

use serde::Serialize;
use serde_json::Value;

/// Most numbers accepted in one request.
pub const MAX_NUMBERS: usize = 10_000;

/// Label used when the request does not provide one.
pub const DEFAULT_LABEL: &str = "unnamed";

/// The statistics returned by `POST /api/stats`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stats {
    /// The request's label, or [`DEFAULT_LABEL`].
    pub label: String,
    /// How many numbers were given.
    pub count: usize,
    /// Their sum.
    pub sum: f64,
    /// The arithmetic mean.
    pub mean: f64,
    /// The median (mean of the two middle values for an even count).
    pub median: f64,
    /// The smallest number.
    pub min: f64,
    /// The largest number.
    pub max: f64,
    /// The population standard deviation.
    pub stddev: f64,
    /// The numbers in ascending order.
    pub sorted: Vec<f64>,
}

/// Why a (syntactically valid) JSON input was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputError {
    /// The input is unusable (`numbers` missing, empty, or not all numbers;
    /// bad `label`). Maps to 422.
    Invalid(String),
    /// More than [`MAX_NUMBERS`] numbers. Maps to 413.
    TooMany(usize),
}

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InputError::Invalid(msg) => f.write_str(msg),
            InputError::TooMany(n) => {
                write!(f, "too many numbers: got {n}, the maximum is {MAX_NUMBERS}")
            }
        }
    }
}

/// Validated input: a label and a non-empty list of at most [`MAX_NUMBERS`]
/// numbers.
#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    /// The label.
    pub label: String,
    /// The numbers, in request order.
    pub numbers: Vec<f64>,
}

/// Validates a parsed JSON document of the form
/// `{"label": "optional string", "numbers": [1, 2.5, ...]}`.
pub fn parse_input(doc: &Value) -> Result<Input, InputError> {
    let invalid = |msg: &str| InputError::Invalid(msg.to_owned());
    let obj = doc
        .as_object()
        .ok_or_else(|| invalid("expected a JSON object with a \"numbers\" array"))?;

    let label = match obj.get("label") {
        None | Some(Value::Null) => DEFAULT_LABEL.to_owned(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(invalid("\"label\" must be a string")),
    };

    let items = match obj.get("numbers") {
        None | Some(Value::Null) => return Err(invalid("\"numbers\" is required")),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(invalid("\"numbers\" must be an array of numbers")),
    };
    if items.len() > MAX_NUMBERS {
        return Err(InputError::TooMany(items.len()));
    }
    if items.is_empty() {
        return Err(invalid("\"numbers\" must not be empty"));
    }
    let numbers = items
        .iter()
        .enumerate()
        .map(|(i, v)| {
            v.as_f64()
                .ok_or_else(|| InputError::Invalid(format!("\"numbers\"[{i}] is not a number")))
        })
        .collect::<Result<Vec<f64>, InputError>>()?;

    Ok(Input { label, numbers })
}

/// Computes the statistics. `numbers` must not be empty (guaranteed by
/// [`parse_input`]); for an empty slice every statistic is `NaN`.
pub fn compute(label: String, numbers: &[f64]) -> Stats {
    let mut sorted = numbers.to_vec();
    sorted.sort_by(f64::total_cmp);

    let count = sorted.len();
    let n = count as f64;
    let sum: f64 = sorted.iter().sum();
    let mean = sum / n;
    let median = match count {
        0 => f64::NAN,
        _ if count % 2 == 1 => sorted[count / 2],
        _ => (sorted[count / 2 - 1] + sorted[count / 2]) / 2.0,
    };
    let min = sorted.first().copied().unwrap_or(f64::NAN);
    let max = sorted.last().copied().unwrap_or(f64::NAN);
    let variance = sorted.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;

    Stats {
        label,
        count,
        sum,
        mean,
        median,
        min,
        max,
        stddev: variance.sqrt(),
        sorted,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::float_cmp)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn computes_statistics() {
        let s = compute("x".into(), &[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]);
        assert_eq!(s.count, 8);
        assert_eq!(s.sum, 40.0);
        assert_eq!(s.mean, 5.0);
        assert_eq!(s.median, 4.5);
        assert_eq!(s.min, 2.0);
        assert_eq!(s.max, 9.0);
        assert_eq!(s.stddev, 2.0);
        assert_eq!(s.sorted, vec![2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]);
    }

    #[test]
    fn odd_count_median_and_sorting() {
        let s = compute("odd".into(), &[3.0, -1.5, 10.0]);
        assert_eq!(s.median, 3.0);
        assert_eq!(s.sorted, vec![-1.5, 3.0, 10.0]);
        assert_eq!(s.min, -1.5);
        assert_eq!(s.max, 10.0);
    }

    #[test]
    fn single_number() {
        let s = compute("one".into(), &[42.0]);
        assert_eq!((s.count, s.mean, s.median, s.stddev), (1, 42.0, 42.0, 0.0));
    }

    #[test]
    fn serialises_expected_shape() {
        let v = serde_json::to_value(compute("a".into(), &[1.0, 3.0])).unwrap();
        assert_eq!(
            v,
            json!({"label":"a","count":2,"sum":4.0,"mean":2.0,"median":2.0,
                   "min":1.0,"max":3.0,"stddev":1.0,"sorted":[1.0,3.0]})
        );
    }

    #[test]
    fn validates_input() {
        let ok = parse_input(&json!({"numbers": [1, 2.5]})).unwrap();
        assert_eq!(ok.label, DEFAULT_LABEL);
        assert_eq!(ok.numbers, vec![1.0, 2.5]);
        let ok = parse_input(&json!({"label": "l", "numbers": [0]})).unwrap();
        assert_eq!(ok.label, "l");

        for bad in [
            json!({}),
            json!({"numbers": []}),
            json!({"numbers": [1, "2"]}),
            json!({"numbers": [1, null]}),
            json!({"numbers": "1,2"}),
            json!({"label": 5, "numbers": [1]}),
            json!([1, 2]),
        ] {
            assert!(
                matches!(parse_input(&bad), Err(InputError::Invalid(_))),
                "{bad}"
            );
        }

        let many = vec![1; MAX_NUMBERS + 1];
        assert_eq!(
            parse_input(&json!({"numbers": many})),
            Err(InputError::TooMany(MAX_NUMBERS + 1))
        );
        let max = vec![1; MAX_NUMBERS];
        assert!(parse_input(&json!({"numbers": max})).is_ok());
    }
}
