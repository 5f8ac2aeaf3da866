/* dl__json_string (src/json.c): the one escaping rule of every JSON output
 * of the tools. Valid UTF-8 passes through; quotes, backslashes and control
 * characters are escaped; every byte that is not valid UTF-8 becomes
 * \u00XX of that byte. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/check.h"
#include "json.h"

TEST_MAIN_DEFINITIONS

/* The JSON dl__json_string writes for s[0..len), into out. */
static void encode(const char *s, size_t len, char *out, size_t cap)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    CHECK(f != NULL);
    if (!f) {
        out[0] = '\0';
        return;
    }
    CHECK_EQ(dl__json_string(f, s, len), 0);
    fclose(f);
    snprintf(out, cap, "%s", buf);
    free(buf);
}

static void expect(const char *s, size_t len, const char *want)
{
    char got[256];
    encode(s, len, got, sizeof got);
    CHECK_STR(got, want);
}

#define EXPECT(lit, want) expect(lit, sizeof lit - 1, want)

int main(void)
{
    EXPECT("plain/path.log", "\"plain/path.log\"");
    EXPECT("a\"b\\c", "\"a\\\"b\\\\c\"");
    EXPECT("tab\there\nnl\x7f", "\"tab\\u0009here\\u000anl\\u007f\"");
    /* Valid UTF-8 of 2, 3 and 4 bytes passes unchanged. */
    EXPECT("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
    /* A Latin-1 byte alone (a file name made on a Latin-1 system). */
    EXPECT("caf\xe9.log", "\"caf\\u00e9.log\"");
    /* A stray continuation byte, 0xff, an overlong '/', a surrogate, a
     * code point above U+10FFFF: each byte escaped. */
    EXPECT("\x80", "\"\\u0080\"");
    EXPECT("\xff", "\"\\u00ff\"");
    EXPECT("\xc0\xaf", "\"\\u00c0\\u00af\"");
    EXPECT("\xe0\x80\xaf", "\"\\u00e0\\u0080\\u00af\"");
    EXPECT("\xed\xa0\x80", "\"\\u00ed\\u00a0\\u0080\"");
    EXPECT("\xf4\x90\x80\x80", "\"\\u00f4\\u0090\\u0080\\u0080\"");
    /* A sequence cut by the end of the string, or by an ASCII byte. */
    EXPECT("x\xe2\x82", "\"x\\u00e2\\u0082\"");
    EXPECT("\xe2\x82z", "\"\\u00e2\\u0082z\"");
    /* The length is explicit: an embedded NUL is a control character. */
    expect("a\0b", 3, "\"a\\u0000b\"");
    /* The largest valid code points of each length still pass. */
    EXPECT("\xdf\xbf\xef\xbf\xbf\xf4\x8f\xbf\xbf", "\"\xdf\xbf\xef\xbf\xbf\xf4\x8f\xbf\xbf\"");

    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    REQUIRE(f != NULL);
    CHECK_EQ(dl__json_cstring(f, NULL), 0);
    fclose(f);
    CHECK_STR(buf, "null");
    free(buf);
    return test_exit_status("test_json_string");
}
