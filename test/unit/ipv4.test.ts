import test from 'ava';
import { cidrSize, contains, formatIPv4, formatNetwork, isHostAddress, nthSubnet, overlaps, parseCidr, parseIPv4 } from '../../generator/site/ipv4.js';
import { parseDurationHours, parsePortRange } from '../../generator/site/units.js';

test('parses and formats IPv4 addresses', (t) => {
  t.is(parseIPv4('192.168.93.45'), 3232259373);
  t.is(formatIPv4(3232259373), '192.168.93.45');
  for (const bad of ['10.77.0.300', '1.2.3', '1.2.3.4.5', '01.2.3.4', 'a.b.c.d', '', '1.2.3.-1']) t.is(parseIPv4(bad), null, bad);
});

test('parses CIDRs with network and broadcast', (t) => {
  const c = parseCidr('192.168.93.45/24')!;
  t.is(formatNetwork(c), '192.168.93.0/24');
  t.is(formatIPv4(c.broadcast), '192.168.93.255');
  t.is(cidrSize(c), 256);
  t.true(contains(c, parseIPv4('192.168.93.1')!));
  t.false(isHostAddress(c, c.network));
  t.false(isHostAddress(c, c.broadcast));
  t.is(parseCidr('10.0.0.0/33'), null);
  t.is(parseCidr('10.0.0.0'), null);
});

test('overlap and sub-allocation', (t) => {
  t.true(overlaps(parseCidr('10.0.0.0/8')!, parseCidr('10.254.0.0/16')!));
  t.false(overlaps(parseCidr('10.254.0.0/16')!, parseCidr('172.30.0.0/16')!));
  const pod = parseCidr('172.30.0.0/16')!;
  t.is(formatNetwork(nthSubnet(pod, 24, 2)!), '172.30.2.0/24');
  t.is(nthSubnet(pod, 24, 256), null);
  t.is(nthSubnet(pod, 8, 0), null);
});

test('durations and port ranges', (t) => {
  t.is(parseDurationHours('87600h'), 87600);
  t.is(parseDurationHours('1h30m'), 1.5);
  for (const bad of ['10y', '', 'h', '5d', '-1h']) t.is(parseDurationHours(bad), null, bad);
  t.deepEqual(parsePortRange('30000-32767'), { from: 30000, to: 32767 });
  for (const bad of ['32767-30000', '0-10', '1-70000', '30000']) t.is(parsePortRange(bad), null, bad);
});
