//! iris-cli: a signed client, batch scorer, load tester and local emulator for ML models
//! served as API Gateway (IAM auth) -> Lambda -> SageMaker real-time endpoints.

pub mod emulator;
