collect_ignore = ["fakelab", "buggy"]
