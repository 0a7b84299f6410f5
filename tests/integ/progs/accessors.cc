// SPDX-License-Identifier: MIT
// A C++ program whose hot loop calls tiny accessors (inlined by gcc, but still hooked under
// -finstrument-functions; one in an anonymous namespace), a two-argument template and a lambda,
// around functions that do real work:
// the profile-guided exclusion test (test_exclusions.sh) removes the first from the build and
// checks that every other function keeps its exact count. Prints a checksum; argv[1] = rounds.
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace kv
{
class Slice
{
      public:
	Slice(const char *d, size_t n) : data_(d), size_(n) {}
	const char *data() const
	{
		return data_;
	}
	size_t size() const
	{
		return size_;
	}
	size_t size_hint_bytes() const; // not inlined, real work: must stay instrumented

      private:
	const char *data_;
	size_t size_;
};

size_t __attribute__((noinline)) Slice::size_hint_bytes() const
{
	volatile size_t s = 0;
	for (int i = 0; i < 200; i++)
		s = s + size_ * (size_t)i;
	return s;
}

template <typename A, typename B> A mix(A a, B b)
{
	return a ^ (A)b;
}

namespace
{
struct Tick { // an accessor in an anonymous namespace: gcc calls it {anonymous}::Tick::get
	unsigned long n;
	unsigned long get() const
	{
		return n;
	}
};
Tick tick{7};
} // namespace

unsigned long __attribute__((noinline)) checksum(const std::vector<Slice> &v)
{
	unsigned long h = 0;
	auto rot = [](unsigned long x) { return (x << 1) | (x >> 63); }; // gcc names it otherwise
	for (const Slice &s : v)
		for (size_t i = 0; i < s.size(); i++)
			h = rot(mix<unsigned long, int>(h * 31, s.data()[i]) + tick.get());
	return h;
}
} // namespace kv

static void __attribute__((noinline)) round_trip(std::vector<kv::Slice> &v, unsigned long *h)
{
	*h += kv::checksum(v);
	*h += v[0].size_hint_bytes();
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 100;
	static const char text[] = "the quick brown fox jumps over the lazy dog";
	std::vector<kv::Slice> v;
	unsigned long h = 0;

	for (int i = 0; i < 8; i++)
		v.emplace_back(text + i, sizeof(text) - 1 - (size_t)i);
	for (int r = 0; r < rounds; r++)
		round_trip(v, &h);
	printf("%lu\n", h);
	return 0;
}
