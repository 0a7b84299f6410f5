// An STL-heavy C++ program for the true-numbers tests (tests/integ/test_truth.sh): templates,
// containers, algorithms, lambdas, exceptions and two worker threads. Every worker makes
// exactly ADDS calls of Counter<int, long>::add and THROWS caught exceptions. "stl 1" runs one
// work() on the main thread only.
#include <algorithm>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

enum { ADDS = 20000, THROWS = 50 };

template <typename K, typename V> struct Counter {
	std::map<K, V> m;
	__attribute__((noinline)) void add(K k, V v) { m[k] += v; }
	V sum() const
	{
		V s = 0;
		for (const auto &kv : m)
			s += kv.second;
		return s;
	}
};

struct Guard {
	int *n;
	explicit Guard(int *p) : n(p) {}
	~Guard() { ++*n; }
};

__attribute__((noinline)) static void may_throw(int i, int *dtors)
{
	Guard g(dtors);
	if (i % 2 == 0)
		throw std::runtime_error("even " + std::to_string(i));
}

static long work(int seed)
{
	Counter<int, long> c;
	std::vector<int> v;
	int dtors = 0, caught = 0;

	for (int i = 0; i < ADDS; i++) {
		c.add((i * 7919 + seed) % 97, i);
		v.push_back((i * 31 + seed) % 1000);
	}
	std::sort(v.begin(), v.end(), [](int a, int b) { return a > b; });
	for (int i = 0; i < 2 * THROWS; i++) {
		try {
			may_throw(i, &dtors);
		} catch (const std::exception &) {
			caught++;
		}
	}
	return c.sum() + v[0] + (caught == THROWS && dtors == 2 * THROWS ? 0 : 1000000);
}

int main(int argc, char **argv)
{
	long r1 = 0, r2 = 0;
	if (argc > 1 && std::string(argv[1]) == "1")
		return work(1) > 0 && work(1) < 1000000000 ? 0 : 1;
	std::thread a([&] { r1 = work(1); });
	std::thread b([&] { r2 = work(2); });
	a.join();
	b.join();
	return r1 > 0 && r2 > 0 && r1 < 1000000000 && r2 < 1000000000 ? 0 : 1;
}
