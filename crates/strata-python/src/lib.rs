//! strata-python
