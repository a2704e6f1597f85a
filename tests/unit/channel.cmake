# Channel ids, key-wrap payloads and channel messages (node/channel.h).
mu_unit_test(test_channel SOURCES tests/unit/test_channel.c LIBS mu_channel mu_testutil)
