//! A faithful local API Gateway -> Lambda -> SageMaker XGBoost endpoint (see AWS_WIRE.md).

pub mod auth;
pub mod model;
pub mod pyfloat;
