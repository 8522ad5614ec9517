//! The golden cases of `fixtures/ingress/responses/`.
