"""The loss: its terms (:mod:`.terms`: Gram matrices, content, total variation), the methods as
layer choices and weights (:mod:`.methods`), the weighted objective (:mod:`.objective`) and one
run's problem built from its settings (:mod:`.problem`)."""
