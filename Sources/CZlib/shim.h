// zlib, for the tests' PNG reader (reports rendered by headless Chromium).
#include <zlib.h>
