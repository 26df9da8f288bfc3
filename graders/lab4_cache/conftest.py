from labkit.grading import lab_fixture

lab = lab_fixture("lab4_cache")
