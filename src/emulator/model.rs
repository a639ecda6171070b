//! XGBoost JSON `gbtree` model evaluator. STUB: interface only, replaced by the model work.

/// Learning objective of a loaded model; decides how margins become outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Objective {
    MultiSoftprob,
    MultiSoftmax,
    BinaryLogistic,
    RegSquaredError,
}

#[derive(Debug, thiserror::Error)]
#[error("invalid XGBoost model: {0}")]
pub struct ModelLoadError(pub String);

#[derive(Debug, Clone)]
pub struct Model {
    num_features: usize,
    num_class: usize,
    objective: Objective,
}

impl Model {
    /// Parse a model saved by `Booster.save_model("model.json")`.
    pub fn from_json_slice(_bytes: &[u8]) -> Result<Self, ModelLoadError> {
        Err(ModelLoadError("not implemented".into()))
    }

    /// The iris classifier shipped in `payloads/` (embedded in the binary).
    pub fn iris() -> Self {
        Model {
            num_features: 4,
            num_class: 3,
            objective: Objective::MultiSoftprob,
        }
    }

    pub fn num_features(&self) -> usize {
        self.num_features
    }

    /// Number of classes for multi-class objectives, 0 otherwise.
    pub fn num_class(&self) -> usize {
        self.num_class
    }

    /// Values per row that `predict_into` writes: `num_class` for softprob, else 1.
    pub fn num_outputs(&self) -> usize {
        match self.objective {
            Objective::MultiSoftprob => self.num_class,
            _ => 1,
        }
    }

    pub fn objective(&self) -> Objective {
        self.objective
    }

    /// Evaluate one row (`row.len() == num_features()`, NaN = missing) into `out`
    /// (`out.len() == num_outputs()`), exactly as `Booster.predict` does.
    pub fn predict_into(&self, _row: &[f32], out: &mut [f32]) {
        let n = out.len() as f32;
        out.iter_mut().for_each(|o| *o = 1.0 / n);
    }
}
