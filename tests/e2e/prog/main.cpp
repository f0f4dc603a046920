// Compiled and run inside the final image by tests/e2e.rs: links against
// e2e/autogenlib (which pulls in autoconflib and makelib) and e2e/mesonlib
// (which pulls in cmakelib), and includes the header-only e2e/customlib.
#include <autogenlib.h>
#include <customlib/customlib.h>
#include <mesonlib/mesonlib.hpp>

#include <cstdio>

int main()
{
    std::printf("%s: pythagorean(3,4,5)=%d pythagorean(2,3,4)=%d nonuple(5)=%d answer=%d\n",
                CUSTOMLIB_BANNER, autogenlib_is_pythagorean(3, 4, 5),
                autogenlib_is_pythagorean(2, 3, 4), mesonlib::nonuple(5), customlib_answer());
    return 0;
}
