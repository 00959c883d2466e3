"""The cross-domain pages on top of the layers: the managers' roadmap (board, table,
timeline, value against effort, maturity, health) and every role's home page of tasks."""
