"""Small problems in each test style, written here so judge tests need no dataset."""

from rltf.problems import AssertTests, CallCase, CallTests, Problem, StdioCase, StdioTests

ADD_ASSERT = Problem("add-assert", "", AssertTests(("assert add(1, 2) == 3", "assert add(2, 2) == 4",
                                                    "assert add(-1, 1) == 0")))
ADD_CALL = Problem("add-call", "", CallTests("add", (CallCase((1, 2), 3), CallCase((2, 2), 4), CallCase((5, 5), 10))))
ADD_STDIO = Problem("add-stdio", "", StdioTests((StdioCase("1 2\n", "3\n"), StdioCase("2 2\n", "4\n"))))
ADD = "def add(a, b):\n    return a + b\n"
ADD_MAIN = "a, b = map(int, input().split())\nprint(a + b)\n"
