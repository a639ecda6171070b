//! XGBoost JSON `gbtree` model evaluator (the format `Booster.save_model("model.json")` writes,
//! schema in xgboost's `doc/model.schema`).
//!
//! Evaluation mirrors xgboost's CPU predictor so that outputs match `Booster.predict`
//! bit for bit in the common case: f32 comparisons (`x < split` goes left, NaN follows
//! `default_left`), margins start at the intercept and add leaves in f32 in tree order, and
//! the output transforms copy xgboost's `common::Softmax` / `common::Sigmoid`.

use std::path::Path;
use std::sync::LazyLock;

use serde::Deserialize;

/// Learning objective of a loaded model; decides how margins become outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Objective {
    MultiSoftprob,
    MultiSoftmax,
    BinaryLogistic,
    RegSquaredError,
}

impl Objective {
    fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "multi:softprob" => Objective::MultiSoftprob,
            "multi:softmax" => Objective::MultiSoftmax,
            "binary:logistic" => Objective::BinaryLogistic,
            "reg:squarederror" => Objective::RegSquaredError,
            _ => return None,
        })
    }

    /// The name xgboost uses for the objective.
    pub fn name(self) -> &'static str {
        match self {
            Objective::MultiSoftprob => "multi:softprob",
            Objective::MultiSoftmax => "multi:softmax",
            Objective::BinaryLogistic => "binary:logistic",
            Objective::RegSquaredError => "reg:squarederror",
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("invalid XGBoost model: {0}")]
pub struct ModelLoadError(pub String);

fn err(msg: impl Into<String>) -> ModelLoadError {
    ModelLoadError(msg.into())
}

/// One tree node, 12 bytes. Nodes of a tree are stored in depth-first pre-order, so the left
/// child of an internal node is always the next node and only the right child is stored.
#[derive(Debug, Clone, Copy)]
struct Node {
    /// Split threshold for internal nodes, leaf value for leaves.
    value: f32,
    /// Feature index; the top bit is `default_left`.
    feature: u32,
    /// Absolute index of the right child in `Model::nodes`; 0 marks a leaf (index 0 is the
    /// first root, which is nobody's child).
    right: u32,
}

const DEFAULT_LEFT: u32 = 1 << 31;
const FEATURE_MASK: u32 = !DEFAULT_LEFT;

#[derive(Debug, Clone)]
pub struct Model {
    num_features: usize,
    num_class: usize,
    objective: Objective,
    /// Output groups: `num_class` for multi-class objectives, 1 otherwise.
    num_groups: usize,
    /// Initial margin per group (the intercept, already in margin space).
    base_margin: Vec<f32>,
    /// All trees' nodes, tree after tree.
    nodes: Vec<Node>,
    /// Per tree, in model order: (root index into `nodes`, output group).
    trees: Vec<(u32, u32)>,
}

static IRIS: LazyLock<Model> = LazyLock::new(|| {
    Model::from_json_slice(include_bytes!("../../payloads/model/iris-xgb.json"))
        .expect("embedded payloads/model/iris-xgb.json is a valid model")
});

// ---- JSON schema (only the parts evaluation needs) ----

#[derive(Deserialize)]
struct JsonModel {
    learner: JsonLearner,
}

#[derive(Deserialize)]
struct JsonLearner {
    learner_model_param: JsonLearnerParam,
    objective: JsonObjective,
    gradient_booster: JsonBooster,
}

#[derive(Deserialize)]
struct JsonLearnerParam {
    base_score: String,
    #[serde(default)]
    num_class: Option<String>,
    num_feature: String,
    #[serde(default)]
    num_target: Option<String>,
}

#[derive(Deserialize)]
struct JsonObjective {
    name: String,
}

#[derive(Deserialize)]
struct JsonBooster {
    name: String,
    #[serde(default)]
    model: Option<JsonGbtree>,
}

#[derive(Deserialize)]
struct JsonGbtree {
    tree_info: Vec<i64>,
    trees: Vec<JsonTree>,
}

#[derive(Deserialize)]
struct JsonTree {
    left_children: Vec<i64>,
    right_children: Vec<i64>,
    split_indices: Vec<i64>,
    split_conditions: Vec<f32>,
    default_left: Vec<Flag>,
    #[serde(default)]
    split_type: Vec<i64>,
    #[serde(default)]
    tree_param: Option<JsonTreeParam>,
}

#[derive(Deserialize)]
struct JsonTreeParam {
    #[serde(default)]
    size_leaf_vector: Option<String>,
}

/// `default_left` is an array of 0/1 in current xgboost and of booleans in some older ones.
#[derive(Deserialize)]
#[serde(untagged)]
enum Flag {
    Bool(bool),
    Int(i64),
}

impl Flag {
    fn is_set(&self) -> bool {
        match *self {
            Flag::Bool(b) => b,
            Flag::Int(i) => i != 0,
        }
    }
}

fn parse_count(field: &str, s: Option<&str>) -> Result<usize, ModelLoadError> {
    let s = s.unwrap_or("0");
    s.trim()
        .parse::<usize>()
        .map_err(|_| err(format!("learner_model_param.{field} is not a count: {s:?}")))
}

/// `"[5E-1,5E-1]"` (xgboost 3.x, one value per output group) or `"5E-1"` (older).
fn parse_base_score(s: &str) -> Result<Vec<f32>, ModelLoadError> {
    let t = s.trim();
    let inner = match t.strip_prefix('[') {
        Some(rest) => rest
            .strip_suffix(']')
            .ok_or_else(|| err(format!("base_score has no closing bracket: {s:?}")))?,
        None => t,
    };
    let vals = inner
        .split(',')
        .map(|v| v.trim().parse::<f32>())
        .collect::<Result<Vec<f32>, _>>()
        .map_err(|_| {
            err(format!(
                "base_score is not a number or list of numbers: {s:?}"
            ))
        })?;
    if vals.iter().any(|v| !v.is_finite()) {
        return Err(err(format!("base_score is not finite: {s:?}")));
    }
    Ok(vals)
}

impl Model {
    /// Parse a model saved by `Booster.save_model("model.json")`.
    pub fn from_json_slice(bytes: &[u8]) -> Result<Self, ModelLoadError> {
        let json: JsonModel = serde_json::from_slice(bytes)
            .map_err(|e| err(format!("not an XGBoost JSON model: {e}")))?;
        Self::from_parsed(json.learner)
    }

    /// Load a JSON model file (for `--model FILE`); errors name the file.
    pub fn from_path(path: &Path) -> anyhow::Result<Self> {
        use anyhow::Context;
        let bytes = std::fs::read(path)
            .with_context(|| format!("cannot read model file {}", path.display()))?;
        Self::from_json_slice(&bytes)
            .with_context(|| format!("cannot load model file {}", path.display()))
    }

    /// The iris classifier shipped in `payloads/` (embedded in the binary).
    pub fn iris() -> Self {
        IRIS.clone()
    }

    fn from_parsed(learner: JsonLearner) -> Result<Self, ModelLoadError> {
        let obj_name = learner.objective.name;
        let objective = Objective::from_name(&obj_name).ok_or_else(|| {
            err(format!(
                "unsupported objective {obj_name:?} (supported: multi:softprob, \
                 multi:softmax, binary:logistic, reg:squarederror)"
            ))
        })?;
        if learner.gradient_booster.name != "gbtree" {
            return Err(err(format!(
                "unsupported booster {:?} (only gbtree is supported)",
                learner.gradient_booster.name
            )));
        }
        let gbtree = learner
            .gradient_booster
            .model
            .ok_or_else(|| err("gradient_booster.model is missing"))?;

        let param = &learner.learner_model_param;
        let num_features = parse_count("num_feature", Some(&param.num_feature))?;
        let num_class = parse_count("num_class", param.num_class.as_deref())?;
        let num_target = parse_count("num_target", param.num_target.as_deref())?;
        if num_target > 1 {
            return Err(err(format!(
                "multi-target models are not supported (num_target = {num_target})"
            )));
        }
        if num_features == 0 || num_features > FEATURE_MASK as usize {
            return Err(err(format!("num_feature = {num_features} is out of range")));
        }
        let multi = matches!(
            objective,
            Objective::MultiSoftprob | Objective::MultiSoftmax
        );
        let num_groups = if multi {
            if num_class < 2 {
                return Err(err(format!(
                    "{obj_name} needs num_class >= 2, the model has {num_class}"
                )));
            }
            num_class
        } else {
            1
        };

        let mut base = parse_base_score(&param.base_score)?;
        if base.len() == 1 && num_groups > 1 {
            base = vec![base[0]; num_groups];
        }
        if base.len() != num_groups {
            return Err(err(format!(
                "base_score has {} values, the model has {num_groups} output groups",
                base.len()
            )));
        }
        if objective == Objective::BinaryLogistic {
            // Saved as a probability; xgboost's ProbToMargin turns it into a logit.
            for b in &mut base {
                if !(*b > 0.0 && *b < 1.0) {
                    return Err(err(format!(
                        "binary:logistic base_score must be in (0, 1), got {b}"
                    )));
                }
                *b = -(1.0f32 / *b - 1.0f32).ln();
            }
        }

        if gbtree.tree_info.len() != gbtree.trees.len() {
            return Err(err(format!(
                "tree_info has {} entries for {} trees",
                gbtree.tree_info.len(),
                gbtree.trees.len()
            )));
        }
        let mut nodes = Vec::new();
        let mut trees = Vec::with_capacity(gbtree.trees.len());
        for (i, (tree, &group)) in gbtree.trees.iter().zip(&gbtree.tree_info).enumerate() {
            let group = usize::try_from(group)
                .ok()
                .filter(|&g| g < num_groups)
                .ok_or_else(|| {
                    err(format!(
                        "tree {i}: tree_info {group} is not an output group (0..{num_groups})"
                    ))
                })?;
            let root = flatten_tree(tree, num_features, &mut nodes)
                .map_err(|m| err(format!("tree {i}: {m}")))?;
            trees.push((root, group as u32));
        }
        if nodes.len() > u32::MAX as usize / 2 {
            return Err(err("too many tree nodes"));
        }

        Ok(Model {
            num_features,
            num_class: if multi { num_class } else { 0 },
            objective,
            num_groups,
            base_margin: base,
            nodes,
            trees,
        })
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

    /// Number of trees in the model.
    pub fn num_trees(&self) -> usize {
        self.trees.len()
    }

    /// Evaluate one row (`row.len() == num_features()`, NaN = missing) into `out`
    /// (`out.len() == num_outputs()`), exactly as `Booster.predict` does.
    ///
    /// # Panics
    /// If `row` or `out` has the wrong length.
    pub fn predict_into(&self, row: &[f32], out: &mut [f32]) {
        assert_eq!(row.len(), self.num_features, "row length != num_features");
        assert_eq!(out.len(), self.num_outputs(), "out length != num_outputs");
        match self.objective {
            Objective::MultiSoftprob => {
                self.margins_into(row, out);
                softmax_in_place(out);
            }
            Objective::MultiSoftmax => {
                // Up to 64 classes on the stack; more is rare enough to allocate.
                let mut stack = [0f32; 64];
                let mut heap = Vec::new();
                let margins = if self.num_groups <= stack.len() {
                    &mut stack[..self.num_groups]
                } else {
                    heap.resize(self.num_groups, 0.0);
                    &mut heap[..]
                };
                self.margins_into(row, margins);
                out[0] = argmax(margins) as f32;
            }
            Objective::BinaryLogistic => {
                self.margins_into(row, out);
                out[0] = sigmoid(out[0]);
            }
            Objective::RegSquaredError => self.margins_into(row, out),
        }
    }

    /// Raw margins (before the objective's transform), one per output group.
    fn margins_into(&self, row: &[f32], margins: &mut [f32]) {
        margins.copy_from_slice(&self.base_margin);
        let nodes = &self.nodes[..];
        for &(root, group) in &self.trees {
            let mut n = root as usize;
            loop {
                let node = nodes[n];
                if node.right == 0 {
                    margins[group as usize] += node.value;
                    break;
                }
                let x = row[(node.feature & FEATURE_MASK) as usize];
                let left = if x.is_nan() {
                    node.feature & DEFAULT_LEFT != 0
                } else {
                    x < node.value
                };
                n = if left { n + 1 } else { node.right as usize };
            }
        }
    }
}

/// Copy one JSON tree into `nodes` in depth-first pre-order; returns the root's index.
/// Checks that the arrays describe a tree (every node reached at most once from the root),
/// so evaluation can never loop or index out of bounds.
fn flatten_tree(
    tree: &JsonTree,
    num_features: usize,
    nodes: &mut Vec<Node>,
) -> Result<u32, String> {
    let n = tree.left_children.len();
    if n == 0 {
        return Err("has no nodes".into());
    }
    if [
        tree.right_children.len(),
        tree.split_indices.len(),
        tree.split_conditions.len(),
        tree.default_left.len(),
    ]
    .iter()
    .any(|&len| len != n)
    {
        return Err("node arrays have different lengths".into());
    }
    if tree.split_type.iter().any(|&t| t != 0) {
        return Err("categorical splits are not supported".into());
    }
    if let Some(size) = tree
        .tree_param
        .as_ref()
        .and_then(|p| p.size_leaf_vector.as_deref())
    {
        if !matches!(size.trim(), "0" | "1") {
            return Err(format!(
                "vector leaves (size_leaf_vector = {size}) are not supported"
            ));
        }
    }

    let root = nodes.len();
    let mut seen = vec![false; n];
    // (json node id, index of the parent node whose `right` must point here)
    let mut stack: Vec<(usize, Option<usize>)> = vec![(0, None)];
    while let Some((id, parent)) = stack.pop() {
        if std::mem::replace(&mut seen[id], true) {
            return Err(format!("node {id} is reached twice (not a tree)"));
        }
        let here = nodes.len();
        if let Some(p) = parent {
            nodes[p].right = u32::try_from(here).map_err(|_| "too many nodes".to_string())?;
        }
        let (l, r) = (tree.left_children[id], tree.right_children[id]);
        let value = tree.split_conditions[id];
        if l == -1 {
            if !value.is_finite() {
                return Err(format!("leaf {id} has a non-finite value"));
            }
            nodes.push(Node {
                value,
                feature: 0,
                right: 0,
            });
            continue;
        }
        let child = |c: i64| -> Result<usize, String> {
            usize::try_from(c)
                .ok()
                .filter(|&c| c < n && c != 0)
                .ok_or_else(|| format!("node {id} has an invalid child {c}"))
        };
        let (l, r) = (child(l)?, child(r)?);
        let feature = usize::try_from(tree.split_indices[id])
            .ok()
            .filter(|&f| f < num_features)
            .ok_or_else(|| {
                format!(
                    "node {id} splits on feature {} but the model has {num_features}",
                    tree.split_indices[id]
                )
            })?;
        if value.is_nan() {
            return Err(format!("node {id} has a NaN split condition"));
        }
        let mut feature = feature as u32;
        if tree.default_left[id].is_set() {
            feature |= DEFAULT_LEFT;
        }
        nodes.push(Node {
            value,
            feature,
            right: u32::MAX, // patched when the right child is placed
        });
        // Left is visited first, so it lands right after its parent.
        stack.push((r, Some(here)));
        stack.push((l, None));
    }
    u32::try_from(root).map_err(|_| "too many nodes".to_string())
}

/// xgboost's `common::Softmax`: subtract the max, expf, sum in f64, divide by the f32 sum.
fn softmax_in_place(v: &mut [f32]) {
    let max = v.iter().copied().fold(v[0], f32::max);
    let mut sum = 0f64;
    for x in v.iter_mut() {
        *x = (*x - max).exp();
        sum += f64::from(*x);
    }
    let sum = sum as f32;
    for x in v.iter_mut() {
        *x /= sum;
    }
}

/// xgboost's `common::FindMaxIndex`: the first index holding the maximum.
fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}

/// xgboost's `common::Sigmoid` for f32 (clamped against overflow, epsilon against 0 / 0).
fn sigmoid(x: f32) -> f32 {
    const EPS: f32 = 1e-16;
    let e = (-x).min(88.7f32).exp();
    1.0f32 / (e + 1.0f32 + EPS)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-tree model: `x[f] < 0.5` (missing goes `dl`) → -1 else +2.
    fn stump(objective: &str, base_score: &str, dl: &str, extra_param: &str) -> String {
        format!(
            r#"{{"learner":{{
  "learner_model_param":{{"base_score":"{base_score}","num_class":"0","num_feature":"2"{extra_param}}},
  "objective":{{"name":"{objective}"}},
  "gradient_booster":{{"name":"gbtree","model":{{"tree_info":[0],"trees":[{{
    "left_children":[1,-1,-1],"right_children":[2,-1,-1],"split_indices":[1,0,0],
    "split_conditions":[0.5,-1.0,2.0],"default_left":[{dl},0,0],"split_type":[0,0,0],
    "tree_param":{{"num_nodes":"3","size_leaf_vector":"1"}}}}]}}}}}}}}"#
        )
    }

    fn load(s: &str) -> Result<Model, ModelLoadError> {
        Model::from_json_slice(s.as_bytes())
    }

    fn predict(m: &Model, row: &[f32]) -> Vec<f32> {
        let mut out = vec![0.0; m.num_outputs()];
        m.predict_into(row, &mut out);
        out
    }

    #[test]
    fn stump_strict_less_and_default_left() {
        let m = load(&stump("reg:squarederror", "[5E-1]", "1", "")).unwrap();
        assert_eq!(m.num_features(), 2);
        assert_eq!(m.num_class(), 0);
        assert_eq!(predict(&m, &[9.0, 0.25]), [-0.5]);
        assert_eq!(predict(&m, &[9.0, 0.5]), [2.5], "equal goes right");
        assert_eq!(predict(&m, &[9.0, f32::NAN]), [-0.5], "missing goes left");
        let m = load(&stump("reg:squarederror", "5E-1", "0", "")).unwrap();
        assert_eq!(predict(&m, &[9.0, f32::NAN]), [2.5], "missing goes right");
        assert_eq!(predict(&m, &[9.0, f32::INFINITY]), [2.5]);
        assert_eq!(predict(&m, &[9.0, f32::NEG_INFINITY]), [-0.5]);
    }

    #[test]
    fn default_left_as_booleans() {
        let m = load(&stump("reg:squarederror", "0", "true", "")).unwrap();
        assert_eq!(predict(&m, &[0.0, f32::NAN]), [-1.0]);
    }

    #[test]
    fn logistic_base_score_is_a_probability() {
        // base 0.5 → margin 0; leaf +2 → sigmoid(2).
        let m = load(&stump("binary:logistic", "[5E-1]", "0", "")).unwrap();
        let p = predict(&m, &[0.0, 1.0])[0];
        assert!((p - 1.0 / (1.0 + (-2.0f32).exp())).abs() < 1e-7, "{p}");
        // base 0.8 → margin ln 4; leaf -1.
        let m = load(&stump("binary:logistic", "8E-1", "0", "")).unwrap();
        let p = predict(&m, &[0.0, 0.0])[0];
        let want = 1.0 / (1.0 + (-(4.0f64.ln() - 1.0)).exp());
        assert!((f64::from(p) - want).abs() < 1e-6, "{p} vs {want}");
        assert!(load(&stump("binary:logistic", "1E0", "0", "")).is_err());
    }

    #[test]
    fn sigmoid_saturates_without_nan() {
        assert_eq!(sigmoid(1000.0), 1.0);
        // exp is clamped at 88.7, so very negative margins give a tiny positive number.
        let tiny = sigmoid(-1000.0);
        assert!(tiny > 0.0 && tiny < 1e-38, "{tiny}");
        assert_eq!(tiny, sigmoid(-88.7));
        assert_eq!(sigmoid(0.0), 0.5);
    }

    #[test]
    fn softmax_and_argmax_like_xgboost() {
        let mut v = [1.0f32, 2.0, 3.0];
        softmax_in_place(&mut v);
        let e: Vec<f64> = [1.0f64, 2.0, 3.0].iter().map(|x| x.exp()).collect();
        let s: f64 = e.iter().sum();
        for (a, b) in v.iter().zip(&e) {
            assert!((f64::from(*a) - b / s).abs() < 1e-7);
        }
        assert_eq!(argmax(&[0.1, 0.7, 0.7]), 1, "ties go to the first");
        assert_eq!(argmax(&[0.9, 0.7, 0.7]), 0);
    }

    #[test]
    fn iris_model_shape() {
        let m = Model::iris();
        assert_eq!(m.num_features(), 4);
        assert_eq!(m.num_class(), 3);
        assert_eq!(m.num_outputs(), 3);
        assert_eq!(m.objective(), Objective::MultiSoftprob);
        assert_eq!(m.num_trees(), 30);
        let out = predict(&m, &[5.1, 3.5, 1.4, 0.2]);
        assert!(out[0] > 0.9 && (out.iter().sum::<f32>() - 1.0).abs() < 1e-6);
    }

    fn load_err(s: &str) -> String {
        load(s).unwrap_err().to_string()
    }

    #[test]
    fn rejects_malformed_models() {
        let ok = stump("reg:squarederror", "[5E-1]", "0", "");
        assert!(load(&ok).is_ok());
        let cases: &[(String, &str)] = &[
            ("{".into(), "not an XGBoost JSON model"),
            ("[]".into(), "not an XGBoost JSON model"),
            (r#"{"learner":{}}"#.into(), "not an XGBoost JSON model"),
            (
                stump("reg:pseudohubererror", "[5E-1]", "0", ""),
                "unsupported objective \"reg:pseudohubererror\"",
            ),
            (
                ok.replace(r#""gbtree""#, r#""dart""#),
                "unsupported booster \"dart\"",
            ),
            (
                ok.replace(r#""[5E-1]""#, r#""[5E-1,1]""#),
                "base_score has 2 values",
            ),
            (
                ok.replace(r#""[5E-1]""#, r#""abc""#),
                "base_score is not a number",
            ),
            (
                ok.replace(r#""[5E-1]""#, r#""[5E-1""#),
                "no closing bracket",
            ),
            (
                ok.replace(r#""num_feature":"2""#, r#""num_feature":"1""#),
                "tree 0: node 0 splits on feature 1 but the model has 1",
            ),
            (
                ok.replace(r#""num_feature":"2""#, r#""num_feature":"x""#),
                "num_feature is not a count",
            ),
            (
                ok.replace("[2,-1,-1]", "[0,-1,-1]"),
                "tree 0: node 0 has an invalid child 0",
            ),
            (
                ok.replace("[2,-1,-1]", "[7,-1,-1]"),
                "tree 0: node 0 has an invalid child 7",
            ),
            (
                ok.replace("[2,-1,-1]", "[1,-1,-1]"),
                "tree 0: node 1 is reached twice",
            ),
            (
                ok.replace("[0.5,-1.0,2.0]", "[0.5,-1.0]"),
                "tree 0: node arrays have different lengths",
            ),
            (
                ok.replace(r#""split_type":[0,0,0]"#, r#""split_type":[1,0,0]"#),
                "categorical splits",
            ),
            (
                ok.replace(r#""size_leaf_vector":"1""#, r#""size_leaf_vector":"3""#),
                "vector leaves",
            ),
            (
                ok.replace(r#""tree_info":[0]"#, r#""tree_info":[1]"#),
                "tree_info 1",
            ),
            (
                ok.replace(r#""tree_info":[0]"#, r#""tree_info":[0,0]"#),
                "tree_info has 2 entries for 1 trees",
            ),
            (
                stump("multi:softprob", "[5E-1]", "0", ""),
                "multi:softprob needs num_class >= 2",
            ),
            (
                stump("reg:squarederror", "[5E-1]", "0", r#","num_target":"2""#),
                "multi-target",
            ),
        ];
        for (json, want) in cases {
            let got = load_err(json);
            assert!(got.starts_with("invalid XGBoost model: "), "{got}");
            assert!(got.contains(want), "error {got:?} should contain {want:?}");
        }
    }

    #[test]
    fn from_path_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.json");
        let e = format!("{:#}", Model::from_path(&missing).unwrap_err());
        assert!(e.contains("nope.json"), "{e}");
        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, "{}").unwrap();
        let e = format!("{:#}", Model::from_path(&bad).unwrap_err());
        assert!(
            e.contains("bad.json") && e.contains("invalid XGBoost model"),
            "{e}"
        );
        let good = dir.path().join("good.json");
        std::fs::write(&good, stump("reg:squarederror", "0", "0", "")).unwrap();
        assert_eq!(Model::from_path(&good).unwrap().num_trees(), 1);
    }
}
