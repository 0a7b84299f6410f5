// C++ functions whose names need escaping in HTML/SVG: templates (<, >) and references (&).
#include <cstdio>
#include <utility>

template <typename T> struct Box {
	T v;
	__attribute__((noinline)) T get() const { return v; }
};

__attribute__((noinline)) int by_ref(int &x, const std::pair<int, int> &p)
{
	return x += p.first;
}

int main()
{
	Box<std::pair<int, int> > b{ { 1, 2 } };
	int x = 0;

	for (int i = 0; i < 10; i++)
		by_ref(x, b.get());
	std::printf("%d\n", x);
	return 0;
}
