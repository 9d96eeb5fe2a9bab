//go:build unix

package console

import "syscall"

// disk is the size, free room and use of the file system holding dir.
func disk(dir string) (total, free, used int64, err error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, 0, 0, err
	}
	bs := int64(st.Bsize)
	total, free = int64(st.Blocks)*bs, int64(st.Bavail)*bs
	return total, free, total - int64(st.Bfree)*bs, nil
}
