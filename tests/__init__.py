"""The test suite; ``tests.support`` holds what its folders share."""
