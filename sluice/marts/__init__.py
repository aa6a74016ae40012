"""The batch track: SQL models in marts/, their dependency graph, quality gates and Spark builds."""
