/* SPDX-License-Identifier: MIT */
/*
 * The one hash function of the tools: FNV-1a 64 over bytes or a string, and a 64-bit finalizer
 * (splitmix64's) for integer keys and for spreading FNV's low bits. Header-only, pure, usable
 * from any stage; not for anything an attacker must not collide (none of ctrace's maps are).
 */
#ifndef CTR_HASH_H
#define CTR_HASH_H

#include <stddef.h>
#include <stdint.h>

#define CTR_HASH_SEED 0xcbf29ce484222325ull /* FNV-1a 64 offset basis */

/* FNV-1a 64 of @n bytes at @p, continuing from @h (CTR_HASH_SEED to start). */
static inline uint64_t ctr_hash_bytes(const void *p, size_t n, uint64_t h)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

/* FNV-1a 64 of the NUL-terminated @s (NULL hashes as ""), continuing from @h. */
static inline uint64_t ctr_hash_str(const char *s, uint64_t h)
{
	for (; s && *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ull;
	}
	return h;
}

/* A bijective 64-bit mix: every input bit affects every output bit. */
static inline uint64_t ctr_hash_mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

#endif
