"""The pure core: values and rules, no network, no clock, no AWS SDK.

Job kinds and statuses (:mod:`.kinds`), time as the state writes it (:mod:`.times`), spec
models (:mod:`.spec`) and their loading with positions (:mod:`.yamlpos`, :mod:`.loading`),
rosters (:mod:`.roster`), identity (:mod:`.identity`), observed jobs and job results
(:mod:`.jobs`), the state schema (:mod:`.state`), desired-job resolution (:mod:`.desired`),
folding observations into the state (:mod:`.absorb`), the plan and its safety checks
(:mod:`.plan`), and the list-lag hold policy (:mod:`.hold`). The only I/O here is reading the
spec and roster files a caller names; everything else is a function of its arguments.
"""
