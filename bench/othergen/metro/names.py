"""Synthetic Chinese names (vectorised)."""
import numpy as np

SURN = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤")
SW = 1.0 / (1 + np.arange(len(SURN))) ** 0.6
GIV_M = list("伟强磊军洋勇杰涛明超刚平辉鹏华飞鑫波斌宇浩凯健俊帆帅旭宁龙林阳晨博文海峰建国志新东亮成云")
GIV_F = list("芳娜秀英敏静丽艳娟霞燕玲桂兰丹萍红琳雪梅慧莉婷颖琴倩佳欣悦晶蓉怡岚璐薇妍洁月彤")


def person_names(rng, sex):
    n = len(sex)
    s = np.array(SURN)[np.searchsorted(np.cumsum(SW), rng.random(n) * SW.sum()).clip(0, len(SURN) - 1)]
    m = np.asarray(sex) == "M"
    g1 = np.where(m, np.array(GIV_M)[rng.integers(0, len(GIV_M), n)], np.array(GIV_F)[rng.integers(0, len(GIV_F), n)])
    g2 = np.where(m, np.array(GIV_M)[rng.integers(0, len(GIV_M), n)], np.array(GIV_F)[rng.integers(0, len(GIV_F), n)])
    two = rng.random(n) < 0.72
    out = np.char.add(np.char.add(s.astype(str), g1.astype(str)), np.where(two, g2, "").astype(str))
    return out.astype(object)
