#include <cmakelib/cmakelib.hpp>

namespace cmakelib
{

int triple(int x)
{
    return 3 * x;
}

} // namespace cmakelib
