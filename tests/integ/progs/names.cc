// SPDX-License-Identifier: MIT
// C++ names for the shortened-name golden test (tests/integ/test_reading.sh): a class template
// with a member, a function template, a lambda, an anonymous namespace, overloads, and a
// polymorphic class whose deleting and complete destructors are distinct symbols.
#include <cstdio>
#include <memory>
#include <vector>

namespace
{
int hidden(int x)
{
	return x * 3;
}
} // namespace

namespace geo
{
struct Shape {
	virtual ~Shape() {}
	virtual double area() const = 0;
};

struct Square : Shape {
	double s;
	explicit Square(double side) : s(side) {}
	~Square() override {}
	double area() const override
	{
		return s * s;
	}
};

template <typename T> struct Box {
	T v;
	T get() const
	{
		return v;
	}
};

template <typename T> T twice(T x)
{
	return x + x;
}

int over(int x)
{
	return x + 1;
}

double over(double x)
{
	return x / 2;
}
} // namespace geo

int main()
{
	double r = 0;
	auto lam = [&r](int x) { r += x; };
	geo::Box<int> bi{2};
	geo::Box<std::vector<int>> bv{{1, 2}};

	lam(hidden(1));
	r += bi.get() + (double)bv.get().size();
	r += geo::twice<int>(3) + geo::twice<double>(1.5);
	r += geo::over(1) + geo::over(2.0);
	{
		geo::Square sq(2.0); // complete destructor at scope end
		r += sq.area();
	}
	{
		std::unique_ptr<geo::Shape> p(new geo::Square(3.0)); // deleting destructor
		r += p->area();
	}
	std::printf("%g\n", r);
	return 0;
}
