"""ipfeed's benchmarks (`make bench`): ipfeed against its baseline and the physical limit."""
