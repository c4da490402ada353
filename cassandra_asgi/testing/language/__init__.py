"""The CQL language: statements parsed into plain objects, and the CQL type system."""
