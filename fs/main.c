#include "fs.h"

int main(int argc, char *argv[])
{
	return fs_main(argc, argv);
}
