import test from 'ava';
import { payloadFileName } from '../../generator/pack/payload.js';

test('--artifacts lists plain files and OS package repository files, nothing that leaves the directory', (t) => {
  for (const ok of [
    'kubelet-v1.20.2-amd64',
    'images-amd64.oci.tar',
    'ospkg/debian-12-amd64/Packages',
    'ospkg/debian-12-amd64/conntrack_1%3a1.4.7-1+b2_amd64.deb',
  ])
    t.true(payloadFileName(ok), ok);
  for (const bad of [
    '../../etc/hostname',
    '.hidden',
    '',
    'ospkg/../kubelet',
    'ospkg/debian-12-amd64/../../x',
    'ospkg/debian-12-amd64/.Packages',
    'ospkg//Packages',
    'ospkg/a/b/c',
    'other/debian-12-amd64/Packages',
    'ospkg/debian-12-amd64/',
    '/etc/passwd',
  ])
    t.false(payloadFileName(bad), JSON.stringify(bad));
});
