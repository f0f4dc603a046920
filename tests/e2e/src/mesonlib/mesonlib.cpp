#include <cmakelib/cmakelib.hpp>
#include <mesonlib/mesonlib.hpp>

namespace mesonlib
{

int nonuple(int x)
{
    return cmakelib::triple(cmakelib::triple(x));
}

} // namespace mesonlib
