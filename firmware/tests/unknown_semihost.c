/* Asks for a semihosting operation cmsim does not serve (SYS_SYSTEM). */
#include "semihost.h"

int main(void)
{
    sh_call(0x12, "ls");
    return 0;
}
