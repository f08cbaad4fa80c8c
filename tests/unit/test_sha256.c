/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of SHA-256 and HMAC-SHA256 (common/sha256.c): the FIPS 180-4 /
 * NIST example messages and every RFC 4231 HMAC-SHA256 test case.
 */
#include "harness.h"
#include "sha256.h"

/* hex of a digest, for comparing with the published values */
static void to_hex(const uint8_t *d, size_t n, char *out)
{
	out[0] = '\0';
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

static void expect_hex(const uint8_t *d, size_t n, const char *want, int line)
{
	char got[2 * CREST_SHA256_LEN + 1];

	to_hex(d, n, got);
	if (strcmp(got, want)) {
		fprintf(stderr, "  line %d: got  %s\n  line %d: want %s\n", line, got, line, want);
		exit(1);
	}
}

#define EXPECT_HEX(d, n, want) expect_hex(d, n, want, __LINE__)

static void expect_sha256(const void *msg, size_t n, const char *want, int line)
{
	uint8_t d[CREST_SHA256_LEN];

	crest_sha256(msg, n, d);
	expect_hex(d, sizeof(d), want, line);
}

#define EXPECT_SHA256(msg, n, want) expect_sha256(msg, n, want, __LINE__)

static const char msg448[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
static const char msg896[] =
	"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";

TEST(sha256_empty)
{
	EXPECT_SHA256("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	EXPECT_SHA256(NULL, 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(sha256_abc)
{
	EXPECT_SHA256("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(sha256_448_bits)
{
	EXPECT_EQ(strlen(msg448), 56);
	EXPECT_SHA256(msg448, 56, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(sha256_896_bits)
{
	EXPECT_EQ(strlen(msg896), 112);
	EXPECT_SHA256(msg896, 112, "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

TEST(sha256_million_a)
{
	static char a[1000000];
	const char *want = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
	struct crest_sha256 c;
	uint8_t d[CREST_SHA256_LEN];

	memset(a, 'a', sizeof(a));
	EXPECT_SHA256(a, sizeof(a), want);
	/* the same in 1000-byte updates (not a multiple of the block) */
	crest_sha256_init(&c);
	for (int i = 0; i < 1000; i++)
		crest_sha256_update(&c, a, 1000);
	crest_sha256_final(&c, d);
	EXPECT_HEX(d, sizeof(d), want);
}

/* lengths at the padding boundaries (the length field fits in the last
 * block or needs one more): n times 'a', digests computed with Python's
 * hashlib */
TEST(sha256_padding_boundaries)
{
	static const struct { size_t n; const char *hex; } v[] = {
		{ 55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318" },
		{ 56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a" },
		{ 57, "f13b2d724659eb3bf47f2dd6af1accc87b81f09f59f2b75e5c0bed6589dfe8c6" },
		{ 63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34" },
		{ 64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb" },
		{ 65, "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0" },
		{ 119, "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb" },
		{ 120, "2f3d335432c70b580af0e8e1b3674a7c020d683aa5f73aaaedfdc55af904c21c" },
	};
	char a[128];

	memset(a, 'a', sizeof(a));
	for (unsigned i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		EXPECT_SHA256(a, v[i].n, v[i].hex);
}

/* every length from 0 to 299 bytes (so every padding case: 55, 56, 63, 64
 * ...), each cut into pieces of changing odd sizes, 1 to 131 bytes */
TEST(sha256_incremental_equals_oneshot)
{
	uint8_t buf[300], one[CREST_SHA256_LEN], inc[CREST_SHA256_LEN];

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 7 + 3);
	for (size_t len = 0; len < sizeof(buf); len++) {
		crest_sha256(buf, len, one);
		for (size_t piece = 1; piece <= 130; piece += 3) {
			struct crest_sha256 c;
			size_t off = 0, step = piece;

			crest_sha256_init(&c);
			while (off < len) {
				size_t n = len - off < step ? len - off : step;

				crest_sha256_update(&c, buf + off, n);
				off += n;
				step = (step * 5 + 3) % 131 + 1;
			}
			crest_sha256_final(&c, inc);
			EXPECT(!memcmp(one, inc, sizeof(one)));
		}
	}
}

struct hmac_case {
	const uint8_t *key;
	size_t keylen;
	const void *data;
	size_t datalen;
	const char *mac;		/* hex; case 5: the first 128 bits */
};

static void expect_hmac(const struct hmac_case *c, int line)
{
	uint8_t d[CREST_SHA256_LEN];
	size_t n = strlen(c->mac) / 2, off = 0, step = 1;
	struct crest_hmac_sha256 h;

	crest_hmac_sha256(c->key, c->keylen, c->data, c->datalen, d);
	expect_hex(d, n, c->mac, line);
	/* incrementally, in pieces of 1, 2, 3 ... bytes */
	crest_hmac_sha256_init(&h, c->key, c->keylen);
	while (off < c->datalen) {
		size_t k = c->datalen - off < step ? c->datalen - off : step;

		crest_hmac_sha256_update(&h, (const uint8_t *)c->data + off, k);
		off += k;
		step++;
	}
	memset(d, 0, sizeof(d));
	crest_hmac_sha256_final(&h, d);
	expect_hex(d, n, c->mac, line);
}

#define EXPECT_HMAC(...) do { struct hmac_case _c = { __VA_ARGS__ }; expect_hmac(&_c, __LINE__); } while (0)

static uint8_t key_0b[20], key_aa20[20], key_0c[20], key_aa131[131], data_dd[50], data_cd[50];
static uint8_t key_01_19[25];

static void fill_keys(void)
{
	memset(key_0b, 0x0b, sizeof(key_0b));
	memset(key_aa20, 0xaa, sizeof(key_aa20));
	memset(key_0c, 0x0c, sizeof(key_0c));
	memset(key_aa131, 0xaa, sizeof(key_aa131));
	memset(data_dd, 0xdd, sizeof(data_dd));
	memset(data_cd, 0xcd, sizeof(data_cd));
	for (int i = 0; i < 25; i++)
		key_01_19[i] = i + 1;
}

TEST(hmac_rfc4231_case1)
{
	fill_keys();
	EXPECT_HMAC(key_0b, 20, "Hi There", 8,
		    "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
}

TEST(hmac_rfc4231_case2_short_key)
{
	EXPECT_HMAC((const uint8_t *)"Jefe", 4, "what do ya want for nothing?", 28,
		    "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(hmac_rfc4231_case3)
{
	fill_keys();
	EXPECT_HMAC(key_aa20, 20, data_dd, 50,
		    "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
}

TEST(hmac_rfc4231_case4)
{
	fill_keys();
	EXPECT_HMAC(key_01_19, 25, data_cd, 50,
		    "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");
}

TEST(hmac_rfc4231_case5_truncated)
{
	fill_keys();
	EXPECT_HMAC(key_0c, 20, "Test With Truncation", 20, "a3b6167473100ee06e0c796c2955552b");
}

TEST(hmac_rfc4231_case6_long_key)
{
	static const char data[] = "Test Using Larger Than Block-Size Key - Hash Key First";

	fill_keys();
	EXPECT_EQ(sizeof(data) - 1, 54);
	EXPECT_HMAC(key_aa131, 131, data, sizeof(data) - 1,
		    "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

TEST(hmac_rfc4231_case7_long_key_and_data)
{
	static const char data[] =
		"This is a test using a larger than block-size key and a larger than block-size data. "
		"The key needs to be hashed before being used by the HMAC algorithm.";

	fill_keys();
	EXPECT_EQ(sizeof(data) - 1, 152);
	EXPECT_HMAC(key_aa131, 131, data, sizeof(data) - 1,
		    "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
}

/* a key of exactly one block is used as is, one byte more is hashed first
 * (expected values computed with Python's hmac) */
TEST(hmac_key_block_boundary)
{
	uint8_t k[65], hk[CREST_SHA256_LEN], a[CREST_SHA256_LEN], b[CREST_SHA256_LEN];

	memset(k, 0x5a, sizeof(k));
	crest_hmac_sha256(k, 64, "x", 1, a);
	EXPECT_HEX(a, sizeof(a), "e553639f908d1998ec8866141860cd3cf2a90cd9d095a98bd4358fb148de1d54");
	crest_hmac_sha256(k, 65, "x", 1, a);
	EXPECT_HEX(a, sizeof(a), "b516707387f0ead335bb5898996024339fb4a75bb525a2c7c144aefc6e0ad479");
	crest_sha256(k, 65, hk);
	crest_hmac_sha256(hk, sizeof(hk), "x", 1, b);
	EXPECT(!memcmp(a, b, sizeof(a)));
}

TEST(mac_equal)
{
	uint8_t a[32], b[32];

	memset(a, 0x11, sizeof(a));
	memcpy(b, a, sizeof(b));
	EXPECT(crest_mac_equal(a, b, 32));
	EXPECT(crest_mac_equal(a, b, 0));
	for (int i = 0; i < 32; i++) {
		b[i] ^= 0x80;
		EXPECT(!crest_mac_equal(a, b, 32));
		b[i] ^= 0x81;
		EXPECT(!crest_mac_equal(a, b, 32));
		b[i] ^= 0x01;
	}
	EXPECT(crest_mac_equal(a, b, 32));
}

int main(void)
{
	return RUN_TESTS();
}
