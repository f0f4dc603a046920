#include "makelib.h"

int makelib_square(int x)
{
    return x * x;
}
