"""People discussing the work: comment threads on use cases, versions, evaluations,
promotion requests and review items, @mentions, and the activity feeds."""
