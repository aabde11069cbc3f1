#include <cstdio>
int main() { std::puts("bulwark"); return 0; }
