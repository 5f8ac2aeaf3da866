/* JSON string escaping (see json.h). */
#include <string.h>

#include "json.h"

/* Length of the valid UTF-8 sequence at p (n bytes left) that encodes a
 * character >= U+0080, or 0 if the bytes there are not one (RFC 3629:
 * no overlong forms, no surrogates, nothing above U+10FFFF). */
static size_t utf8_sequence(const unsigned char *p, size_t n)
{
    unsigned char c = p[0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        if (c == 0xe0)
            lo = 0xa0; /* overlong */
        else if (c == 0xed)
            hi = 0x9f; /* surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        if (c == 0xf0)
            lo = 0x90; /* overlong */
        else if (c == 0xf4)
            hi = 0x8f; /* above U+10FFFF */
    } else {
        return 0; /* a continuation byte, 0xc0/0xc1 or 0xf5..0xff */
    }
    if (n < len || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (p[i] < 0x80 || p[i] > 0xbf)
            return 0;
    return len;
}

int dl__json_string(FILE *f, const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    int bad = fputc('"', f) == EOF;
    for (size_t i = 0; i < len && !bad;) {
        unsigned char c = p[i];
        size_t k;
        if (c == '"' || c == '\\') {
            bad = fprintf(f, "\\%c", c) < 0;
            i++;
        } else if (c < 0x20 || c == 0x7f) {
            bad = fprintf(f, "\\u%04x", c) < 0;
            i++;
        } else if (c < 0x80) {
            bad = fputc(c, f) == EOF;
            i++;
        } else if ((k = utf8_sequence(p + i, len - i)) != 0) {
            bad = fwrite(p + i, 1, k, f) != k;
            i += k;
        } else {
            bad = fprintf(f, "\\u%04x", c) < 0; /* not UTF-8: the byte, as Latin-1 */
            i++;
        }
    }
    if (!bad)
        bad = fputc('"', f) == EOF;
    return bad ? -1 : 0;
}

int dl__json_cstring(FILE *f, const char *s)
{
    if (!s)
        return fputs("null", f) == EOF ? -1 : 0;
    return dl__json_string(f, s, strlen(s));
}
